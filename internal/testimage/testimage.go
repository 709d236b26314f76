// Package testimage makes images for tests: real PNGs of any size made
// without holding or compressing their pixels, so a test can make a
// decompression bomb (a few hundred KB of file, 128 MB of pixels) in
// milliseconds, also under the race detector.
package testimage

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
)

// PNG returns a valid PNG of w × h grey pixels: RGBA with 16
// bits a channel (8 bytes a pixel decoded) when deep, else RGB with 8
// bits. One row is compressed once; the image data repeats it, each copy
// a deflate segment of its own (ended by a sync flush, so the copies join
// into one stream), and the zlib checksum is combined from the row's.
func PNG(w, h int, deep bool) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	pixel := 3
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	if deep {
		pixel = 8
		ihdr[8], ihdr[9] = 16, 6 // 16-bit RGBA
	}
	chunk(&out, "IHDR", ihdr)

	row := make([]byte, 1+w*pixel) // filter byte 0, then the pixels: grey
	for x := range w {
		p := row[1+x*pixel : 1+(x+1)*pixel]
		for i := range p {
			p[i] = 0x80
		}
		if deep {
			p[6], p[7] = 0xff, 0xff // opaque
		}
	}
	var seg bytes.Buffer
	fw, _ := flate.NewWriter(&seg, flate.BestCompression)
	_, _ = fw.Write(row)
	_ = fw.Flush()
	var end bytes.Buffer
	fe, _ := flate.NewWriter(&end, flate.BestCompression)
	_ = fe.Close()

	var data bytes.Buffer
	data.Write([]byte{0x78, 0xda})
	sum, rowSum := uint32(1), adler32.Checksum(row)
	for range h {
		data.Write(seg.Bytes())
		sum = adler32Combine(sum, rowSum, int64(len(row)))
	}
	data.Write(end.Bytes())
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], sum)
	data.Write(s[:])
	chunk(&out, "IDAT", data.Bytes())
	chunk(&out, "IEND", nil)
	return out.Bytes()
}

// adler32Combine returns the Adler-32 of A followed by B from theirs and
// B's length.
func adler32Combine(a, b uint32, lenB int64) uint32 {
	const base = 65521
	rem := uint32(lenB % base)
	sum1 := a & 0xffff
	sum2 := uint32(uint64(rem) * uint64(sum1) % base)
	sum1 += (b & 0xffff) + base - 1
	sum2 += (a >> 16) + (b >> 16) + base - rem
	if sum1 >= base {
		sum1 -= base
	}
	if sum1 >= base {
		sum1 -= base
	}
	if sum2 >= base<<1 {
		sum2 -= base << 1
	}
	if sum2 >= base {
		sum2 -= base
	}
	return sum1 | sum2<<16
}

func chunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	out.WriteString(typ)
	out.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}

// Package testimage makes images for tests: real PNGs of any size, written
// a row at a time, so a test can make a decompression bomb (a few hundred
// KB of file, gigabytes of pixels) without holding its pixels.
package testimage

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// PNG returns a valid PNG of w × h pixels, RGBA with 16 bits a channel
// (8 bytes a pixel decoded) when deep, else RGB with 8 bits. Its rows
// are stripes, so it compresses to little.
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

	var data bytes.Buffer
	z, _ := zlib.NewWriterLevel(&data, zlib.BestCompression)
	row := make([]byte, 1+w*pixel) // filter byte 0, then the pixels
	for y := range h {
		v := byte(y * 255 / max(1, h-1))
		for i := 1; i < len(row); i++ {
			row[i] = v
		}
		if deep {
			for x := range w {
				row[1+x*8+6], row[1+x*8+7] = 0xff, 0xff // opaque
			}
		}
		_, _ = z.Write(row)
	}
	_ = z.Close()
	chunk(&out, "IDAT", data.Bytes())
	chunk(&out, "IEND", nil)
	return out.Bytes()
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

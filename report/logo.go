package report

import (
	"bytes"
	"crypto/sha256"
	"image"
	"image/color"
	"image/png"
	"math"
	"sync"
	"sync/atomic"

	"envoi"
)

// A company's logo is prepared for print once, not at every render: its
// header is checked against envoi's logo limits (no pixel decoded when it
// is over them: a logo stored before they existed may be a decompression
// bomb), then it is decoded once, scaled down to what the page can show and
// re-encoded as an 8-bit RGB PNG on white, which fpdf embeds without
// decoding it again. The result, or the error, is kept by the logo's
// content hash, for the last logoCacheSize logos.

const (
	// logoDPI is the resolution the logo is printed at, at most.
	logoDPI = 300
	// logoCacheSize bounds the prepared logos kept (one per company in use).
	logoCacheSize = 32
)

// logoDecodes counts the logos decoded, for tests.
var logoDecodes atomic.Int64

// printLogo is a logo ready for fpdf: an 8-bit RGB PNG and its size in
// pixels.
type printLogo struct {
	png  []byte
	w, h int
	err  error
	done chan struct{}
}

// logoCache keeps the prepared logos by content hash; the zero value is
// ready to use.
type logoCache struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]*printLogo
	order [][sha256.Size]byte // oldest first
}

// get returns the prepared form of logo, preparing it when it is not kept;
// concurrent calls for one logo wait for one preparation.
func (c *logoCache) get(logo []byte) (*printLogo, error) {
	key := sha256.Sum256(logo)
	c.mu.Lock()
	p, ok := c.m[key]
	if !ok {
		if c.m == nil {
			c.m = map[[sha256.Size]byte]*printLogo{}
		}
		if len(c.order) >= logoCacheSize {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		p = &printLogo{done: make(chan struct{})}
		c.m[key] = p
		c.order = append(c.order, key)
	}
	c.mu.Unlock()
	if !ok {
		func() {
			defer close(p.done)
			defer func() {
				if v := recover(); v != nil { // a decoder's panic fails this logo, not the waiters
					p.err = envoi.FieldError(envoi.EInvalidInput, "logo", "the company's logo cannot be printed: %v", v)
				}
			}()
			p.prepare(logo)
		}()
	}
	<-p.done
	return p, p.err
}

// prepare checks, decodes, scales and encodes logo into p.
func (p *printLogo) prepare(logo []byte) {
	bad := func(why string, args ...any) error {
		return envoi.FieldError(envoi.EInvalidInput, "logo", "the company's logo cannot be printed: "+why, args...)
	}
	if _, _, err := envoi.LogoHeader(logo); err != nil {
		p.err = bad("%s", envoi.AsError(err).Message)
		return
	}
	logoDecodes.Add(1)
	img, _, err := image.Decode(bytes.NewReader(logo))
	if err != nil {
		p.err = bad("%v", err)
		return
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	scale := math.Min(1, math.Min(maxLogoW/25.4*logoDPI/float64(sw), maxLogoH/25.4*logoDPI/float64(sh)))
	p.w, p.h = max(1, int(math.Round(float64(sw)*scale))), max(1, int(math.Round(float64(sh)*scale)))
	var buf bytes.Buffer
	if err := png.Encode(&buf, shrinkOnWhite(img, p.w, p.h)); err != nil {
		p.err = bad("%v", err)
		return
	}
	p.png = buf.Bytes()
}

// shrinkOnWhite returns src scaled down to w × h (each pixel the mean of
// the source pixels it covers), its transparency laid on white (the page).
func shrinkOnWhite(src image.Image, w, h int) *image.RGBA {
	bo := src.Bounds()
	sw, sh := bo.Dx(), bo.Dy()
	sum := make([][4]uint64, w*h) // r, g, b, count
	// premultiplied, without an allocation a pixel where the image allows
	pixel := func(x, y int) (r, g, b, a uint32) {
		c := src.At(bo.Min.X+x, bo.Min.Y+y)
		return c.RGBA()
	}
	if src64, ok := src.(image.RGBA64Image); ok {
		pixel = func(x, y int) (r, g, b, a uint32) {
			c := src64.RGBA64At(bo.Min.X+x, bo.Min.Y+y)
			return uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		}
	}
	for y := range sh {
		row := (y * h / sh) * w
		for x := range sw {
			r, g, bl, a := pixel(x, y)
			s := &sum[row+x*w/sw]
			white := uint64(0xffff - a)
			s[0] += uint64(r) + white
			s[1] += uint64(g) + white
			s[2] += uint64(bl) + white
			s[3]++
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, s := range sum {
		if s[3] == 0 {
			s = [4]uint64{0xffff, 0xffff, 0xffff, 1}
		}
		out.SetRGBA(i%w, i/w, color.RGBA{uint8(s[0] / s[3] >> 8), uint8(s[1] / s[3] >> 8), uint8(s[2] / s[3] >> 8), 0xff})
	}
	return out
}

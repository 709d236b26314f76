package testimage_test

import (
	"bytes"
	"image"
	_ "image/png"
	"testing"

	"envoi/internal/testimage"
)

// The images decode whole, checksum included, to the size asked.
func TestPNG(t *testing.T) {
	for _, c := range []struct {
		w, h int
		deep bool
	}{{30, 20, false}, {300, 100, true}, {2000, 1000, true}} {
		b := testimage.PNG(c.w, c.h, c.deep)
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%d×%d: %v", c.w, c.h, err)
		}
		if r := img.Bounds(); r.Dx() != c.w || r.Dy() != c.h {
			t.Errorf("%d×%d decodes as %v", c.w, c.h, r)
		}
	}
	if n := len(testimage.PNG(4000, 4000, true)); n > 400<<10 {
		t.Errorf("the 4000×4000 16-bit PNG is %d KB, want it under the 512 KB logo limit", n>>10)
	}
}

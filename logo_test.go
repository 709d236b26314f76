package envoi_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"runtime"
	"testing"

	"envoi"
	"envoi/internal/testimage"
)

func TestCheckLogo(t *testing.T) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 40, 20)), nil); err != nil {
		t.Fatal(err)
	}
	full := testimage.PNG(300, 100, false)
	for _, c := range []struct {
		name string
		logo []byte
		typ  string // "" when refused
	}{
		{"PNG", full, "image/png"},
		{"PNG16", testimage.PNG(1000, 500, true), "image/png"},
		{"JPEG", jpg.Bytes(), "image/jpeg"},
		{"Bomb", testimage.PNG(4000, 4000, true), ""},
		{"TooWide", testimage.PNG(envoi.MaxLogoSide+1, 1, false), ""},
		{"TooManyPixels", testimage.PNG(1500, 1500, false), ""},
		{"StartsLikePNG", []byte("\x89PNG\r\n\x1a\n garbage"), ""},
		{"TruncatedPNG", full[:len(full)-40], ""},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ""},
		{"TooBig", append(testimage.PNG(10, 10, false), make([]byte, envoi.MaxLogoBytes)...), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			typ, err := envoi.CheckLogo(c.logo)
			if c.typ != "" {
				if err != nil || typ != c.typ {
					t.Fatalf("CheckLogo = %q, %v; want %s", typ, err, c.typ)
				}
				co := &envoi.Company{Code: "X", Name: "X", Logo: c.logo, LogoType: typ}
				if err := co.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "logo" {
				t.Fatalf("CheckLogo = %v, want invalid_input on logo", err)
			}
			co := &envoi.Company{Code: "X", Logo: c.logo, LogoType: "image/png"}
			if envoi.ErrorCode(co.Validate()) != envoi.EInvalidInput {
				t.Errorf("Validate accepted it")
			}
		})
	}
	t.Run("DeclaredTypeWrong", func(t *testing.T) {
		co := &envoi.Company{Code: "X", Logo: jpg.Bytes(), LogoType: "image/png"}
		if envoi.ErrorCode(co.Validate()) != envoi.EInvalidInput {
			t.Errorf("a JPEG declared PNG was accepted")
		}
	})
}

// TestLogoBombCheapToRefuse: refusing the 4000×4000 16-bit PNG (128 MB of
// pixels) reads its header only.
func TestLogoBombCheapToRefuse(t *testing.T) {
	bomb := testimage.PNG(4000, 4000, true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := (&envoi.Company{Code: "X", Logo: bomb, LogoType: "image/png"}).Validate()
	runtime.ReadMemStats(&after)
	if e := envoi.AsError(err); e == nil || e.Code != envoi.EInvalidInput || e.Details["width"] != 4000 {
		t.Fatalf("Validate = %v, want invalid_input for its 4000 pixels (the file is %d KB, within the bytes limit)", err, len(bomb)>>10)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing the bomb allocated %d KB, want under 1 MB", n>>10)
	}
}

package main_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"envoi/internal/testimage"
)

// TestLogoRules: a logo is checked by one rule (envoi.CheckLogo) whoever
// saves it. Through the API and envoi apply alike, a 4000×4000 16-bit PNG
// (195 KB of file, 128 MB of pixels) and bytes that merely start like a PNG
// are refused with invalid_input on the logo; a real logo is kept.
func TestLogoRules(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	bomb := testimage.PNG(4000, 4000, true)
	fake := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR not really a picture")
	good := testimage.PNG(300, 100, false)

	for name, logo := range map[string][]byte{"Bomb": bomb, "StartsLikePNG": fake} {
		t.Run("API"+name, func(t *testing.T) {
			r := e.call("PUT", "/v1/companies/FORTERRO", e.Key, map[string]any{"name": "Forterro", "logo_png_base64": base64.StdEncoding.EncodeToString(logo)})
			ae := wantError(t, r, 400, "invalid_input")
			if ae.Error.Details["field"] != "logo" {
				t.Errorf("details %v, want the field logo", ae.Error.Details)
			}
		})
		t.Run("Apply"+name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "envoi.yaml")
			if err := os.WriteFile(filepath.Join(dir, "logo.png"), logo, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg, []byte("companies:\n  ACME: {name: Acme, logo_file: logo.png}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := e.RunCode("apply", "-f", cfg)
			if code == 0 || !strings.Contains(out, "invalid_input") || !strings.Contains(out, "logo") {
				t.Errorf("apply with a bad logo: exit %d:\n%s", code, out)
			}
		})
	}
	var c struct {
		LogoSet  bool   `json:"logo_set"`
		LogoType string `json:"logo_type"`
	}
	e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro", "logo_png_base64": base64.StdEncoding.EncodeToString(good)}, &c)
	if !c.LogoSet || c.LogoType != "image/png" {
		t.Errorf("a real logo: %+v", c)
	}
}

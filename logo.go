package envoi

import (
	"bytes"
	"image"
	_ "image/jpeg" // logos may be JPEG
	_ "image/png"  // or PNG
)

// Limits of a company logo. It travels inline in every mail and is printed
// on reports, so it is checked once, when it is saved, by CheckLogo:
// whoever saves it (the API, the UI, envoi apply) goes through
// Company.Validate.
const (
	// MaxLogoBytes bounds the logo's file.
	MaxLogoBytes = 512 << 10
	// MaxLogoSide bounds its width and its height, in pixels.
	MaxLogoSide = 2000
	// MaxLogoPixels bounds width × height: the memory a decoded image takes
	// (up to 8 bytes a pixel, 16 MB at the limit), whatever its file size —
	// a few hundred KB of PNG can hold gigabytes of pixels.
	MaxLogoPixels = 2_000_000
)

// LogoHeader reads only the header of a logo (no pixel is decoded) and
// returns its content type (image/png or image/jpeg) and dimensions.
// Returns EInvalidInput naming the field "logo" when it is over
// MaxLogoBytes, not a PNG or JPEG image, or over MaxLogoSide or
// MaxLogoPixels.
func LogoHeader(b []byte) (contentType string, cfg image.Config, err error) {
	if len(b) > MaxLogoBytes {
		return "", cfg, FieldError(EInvalidInput, "logo", "the logo is %d bytes; the limit is %d", len(b), MaxLogoBytes).
			WithDetail("limit_bytes", MaxLogoBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "", cfg, FieldError(EInvalidInput, "logo", "the logo is damaged or not a PNG or JPEG image: %v", err)
	}
	switch format {
	case "png":
		contentType = "image/png"
	case "jpeg":
		contentType = "image/jpeg"
	default:
		return "", cfg, FieldError(EInvalidInput, "logo", "the logo is %s; it must be a PNG or JPEG image", format)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || w > MaxLogoSide || h > MaxLogoSide || int64(w)*int64(h) > MaxLogoPixels {
		return "", cfg, FieldError(EInvalidInput, "logo", "the logo is %d×%d pixels; at most %d on each side and %d pixels in all",
			w, h, MaxLogoSide, MaxLogoPixels).WithDetail("width", w).WithDetail("height", h).
			WithDetail("max_side", MaxLogoSide).WithDetail("max_pixels", MaxLogoPixels)
	}
	return contentType, cfg, nil
}

// CheckLogo checks a logo being saved: LogoHeader's rules, then the whole
// image is decoded (bounded by MaxLogoPixels), so bytes that merely start
// like a PNG or a JPEG are refused. Returns the content type.
func CheckLogo(b []byte) (contentType string, err error) {
	contentType, _, err = LogoHeader(b)
	if err != nil {
		return "", err
	}
	if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
		return "", FieldError(EInvalidInput, "logo", "the logo is a damaged image: %v", err)
	}
	return contentType, nil
}

package sqlstore_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// testLogo is a real PNG, n+1 pixels wide: a company's logo must decode
// (envoi.CheckLogo), and different n give different bytes.
func testLogo(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	must(tb, png.Encode(&buf, image.NewGray(image.Rect(0, 0, n+1, 1))))
	return buf.Bytes()
}

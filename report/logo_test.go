package report_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"envoi"
	"envoi/internal/testimage"
	"envoi/report"
)

// allocated returns the bytes fn allocates on the heap (no test of this
// package runs in parallel).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A logo over the limits — here 4000×4000 pixels of 16-bit RGBA, 195 KB of
// file and 128 MB decoded, stored before the limits existed — is refused
// from its header at render: no pixel is decoded.
func TestLogoBombNotDecoded(t *testing.T) {
	bomb := testimage.PNG(4000, 4000, true)
	r := MustRenderer(t)
	c := company(t, "fr", "EUR", "")
	c.Logo, c.LogoType = bomb, "image/png"
	before := report.LogoDecodes()
	var err error
	n := allocated(func() {
		_, err = r.Render(context.Background(), nil, c, &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(1)})
	})
	if e := envoi.AsError(err); e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "logo" {
		t.Fatalf("render with a 4000×4000 logo: %v, want invalid_input on logo", err)
	}
	if got := report.LogoDecodes() - before; got != 0 {
		t.Errorf("%d logo decodes, want none", got)
	}
	if n > 32<<20 {
		t.Errorf("the refused render allocated %d MB, want under 32 MB (the image decoded is 128 MB)", n>>20)
	}
}

// A logo is decoded once for any number of renders, also concurrent ones:
// 8 renders with a 1000×1000 16-bit logo (8 MB decoded) allocate less
// than 8 renders without a logo plus two decodes.
func TestLogoDecodedOnce(t *testing.T) {
	const renders = 8
	const decoded = 1000 * 1000 * 8
	logo := testimage.PNG(1000, 1000, true)
	r := MustRenderer(t)
	req := &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(1)}
	plain := company(t, "fr", "EUR", "")
	if _, err := r.Render(context.Background(), nil, plain, req); err != nil { // warm up templates and fonts
		t.Fatal(err)
	}
	run := func(c *envoi.Company) uint64 {
		return allocated(func() {
			var wg sync.WaitGroup
			for range renders {
				wg.Go(func() {
					if _, err := r.Render(context.Background(), nil, c, req); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		})
	}
	without := run(plain)
	with := company(t, "fr", "EUR", "")
	with.Logo, with.LogoType = logo, "image/png"
	before := report.LogoDecodes()
	got := run(with)
	if n := report.LogoDecodes() - before; n != 1 {
		t.Errorf("%d decodes of one logo for %d renders, want 1", n, renders)
	}
	if limit := without + 2*decoded; got > limit {
		t.Errorf("%d renders with the logo allocated %d MB; without it %d MB, so the limit is %d MB",
			renders, got>>20, without>>20, limit>>20)
	}
	t.Logf("%d renders: %d MB without a logo, %d MB with a 1000×1000 16-bit one", renders, without>>20, got>>20)
}

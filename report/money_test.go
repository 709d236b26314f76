package report_test

import (
	"slices"
	"testing"

	"envoi"
	"envoi/report"
)

func TestFormatMoney(t *testing.T) {
	const nnbsp, nbsp = "\u202f", "\u00a0" // French thousands, before the symbol
	tests := []struct {
		minor    int64
		currency string
		lang     string
		want     string
	}{
		{123456, "EUR", "fr", "1" + nnbsp + "234,56" + nbsp + "€"},
		{123456, "", "fr", "1" + nnbsp + "234,56" + nbsp + "€"},
		{123456789012, "EUR", "fr", "1" + nnbsp + "234" + nnbsp + "567" + nnbsp + "890,12" + nbsp + "€"},
		{5, "EUR", "fr", "0,05" + nbsp + "€"},
		{0, "EUR", "fr", "0,00" + nbsp + "€"},
		{-123456, "EUR", "fr", "-1" + nnbsp + "234,56" + nbsp + "€"},
		{99999, "EUR", "fr", "999,99" + nbsp + "€"},
		{100000, "EUR", "fr", "1" + nnbsp + "000,00" + nbsp + "€"},
		{123456, "EUR", "es", "1.234,56" + nbsp + "€"},
		{123456789, "EUR", "es", "1.234.567,89" + nbsp + "€"},
		{-5000, "EUR", "es", "-50,00" + nbsp + "€"},
		{123456, "USD", "en", "$1,234.56"},
		{123456, "EUR", "en", "€1,234.56"},
		{123456, "GBP", "en", "£1,234.56"},
		{-123456, "USD", "en", "-$1,234.56"},
		{123456789, "USD", "en", "$1,234,567.89"},
		{123456, "USD", "fr", "1" + nnbsp + "234,56" + nbsp + "$"},
		{123456, "CHF", "fr", "1" + nnbsp + "234,56" + nbsp + "CHF"},
		{123456, "CHF", "en", "CHF" + nbsp + "1,234.56"},
		{123456, "chf", "es", "1.234,56" + nbsp + "CHF"},
		{1234, "JPY", "en", "¥1,234"},
		{1234, "XOF", "fr", "1" + nnbsp + "234" + nbsp + "XOF"},
		{1234567, "TND", "fr", "1" + nnbsp + "234,567" + nbsp + "TND"},
		{123456, "EUR", "de", "1" + nnbsp + "234,56" + nbsp + "€"}, // unknown language: French
	}
	for _, tt := range tests {
		t.Run(tt.lang+"_"+tt.currency, func(t *testing.T) {
			if got := report.FormatMoney(tt.minor, tt.currency, tt.lang); got != tt.want {
				t.Errorf("FormatMoney(%d, %q, %q) = %q, want %q", tt.minor, tt.currency, tt.lang, got, tt.want)
			}
		})
	}
}

func TestComputeTotals(t *testing.T) {
	type vat struct {
		rate         string
		base, amount int64
	}
	tests := []struct {
		name     string
		lines    []report.Line
		currency string
		amounts  []int64
		net      int64
		vat      []vat
		gross    int64
	}{
		{
			name:    "HalfUpPerLine",
			lines:   []report.Line{{"1", "0.005", "20"}, {"3", "0.335", "20"}, {"1", "2.675", "20"}},
			amounts: []int64{1, 101, 268}, // 0.005 → 0.01; 1.005 → 1.01; 2.675 → 2.68 (no binary drift)
			net:     370, vat: []vat{{"20", 370, 74}}, gross: 444,
		},
		{
			name: "VATPerRateOnBase",
			// The VAT of a rate is computed once on its base, not summed
			// per line: three lines of 0.07 at 20 % give 0.21 × 20 % =
			// 0.042 → 0.04, where per-line rounding would give 3 × 0.01.
			lines:   []report.Line{{"1", "1.65", "5.5"}, {"1", "1.65", "5.5"}, {"1", "1.65", "5.5"}, {"1", "0.07", "20"}, {"1", "0.07", "20"}, {"1", "0.07", "20"}},
			amounts: []int64{165, 165, 165, 7, 7, 7},
			// 4.95 × 5.5 % = 0.27225 → 0.27.
			net: 516, vat: []vat{{"5.5", 495, 27}, {"20", 21, 4}}, gross: 547,
		},
		{
			name:    "RatesWrittenDifferently",
			lines:   []report.Line{{"2", "10", "20"}, {"1", "5", "20.00"}, {"1", "1", "5.50"}},
			amounts: []int64{2000, 500, 100},
			net:     2600, vat: []vat{{"5.5", 100, 6}, {"20", 2500, 500}}, gross: 3106,
		},
		{
			name:    "Negative",
			lines:   []report.Line{{"-1", "0.005", "20"}, {"1", "-10", "20"}, {"4", "15.75", "20"}},
			amounts: []int64{-1, -1000, 6300},
			net:     5299, vat: []vat{{"20", 5299, 1060}}, gross: 6359, // 10.598 → 10.60
		},
		{
			name:  "ZeroRateAndDecimalQuantity",
			lines: []report.Line{{"1.5", "80.333", "21"}, {"0.25", "19.99", "0"}},
			// 120.4995 → 120.50; 4.9975 → 5.00; VAT 120.50 × 21 % = 25.305 → 25.31.
			amounts: []int64{12050, 500},
			net:     12550, vat: []vat{{"0", 500, 0}, {"21", 12050, 2531}}, gross: 15081,
		},
		{
			name:     "NoCents",
			currency: "JPY",
			lines:    []report.Line{{"3", "333.5", "10"}},
			// 1000.5 → 1001; VAT 100.1 → 100.
			amounts: []int64{1001},
			net:     1001, vat: []vat{{"10", 1001, 100}}, gross: 1101,
		},
		{name: "NoLines", net: 0, gross: 0, amounts: []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := report.ComputeTotals(tt.lines, tt.currency)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Lines, tt.amounts) {
				t.Errorf("line amounts = %v, want %v", got.Lines, tt.amounts)
			}
			if got.Net != tt.net || got.Gross != tt.gross {
				t.Errorf("net, gross = %d, %d; want %d, %d", got.Net, got.Gross, tt.net, tt.gross)
			}
			var gotVAT []vat
			for _, v := range got.VAT {
				gotVAT = append(gotVAT, vat{v.Rate, v.Base, v.Amount})
			}
			if !slices.Equal(gotVAT, tt.vat) {
				t.Errorf("VAT = %v, want %v", gotVAT, tt.vat)
			}
		})
	}
}

func TestComputeTotalsErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []report.Line
		field string
	}{
		{"NotANumber", []report.Line{{"1", "1", "20"}, {"abc", "1", "20"}}, "lines[1].quantity"},
		{"Exponent", []report.Line{{"1", "1e3", "20"}}, "lines[0].unit_price"},
		{"TooManyDigits", []report.Line{{"1", "1", "1234567890123"}}, "lines[0].vat_rate"},
		{"Overflow", []report.Line{{"999999999999", "999999999999", "20"}}, "lines[0].amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := report.ComputeTotals(tt.lines, "EUR")
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != tt.field {
				t.Fatalf("error = %v, want %s on %s", err, envoi.EInvalidInput, tt.field)
			}
		})
	}
}

package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"envoi"
)

// Amounts are computed exactly, never in floating point: quantities, unit
// prices and VAT rates are read as the decimals they are written as (a JSON
// number 0.1 is the decimal 0.1, not the nearest binary fraction), and
// multiplied as rationals. The rounding rule, the French and Spanish
// invoicing practice:
//
//   - each line's amount, quantity × unit price, is rounded to the
//     currency's minor unit (cents), half away from zero (0.005 → 0.01,
//     -0.005 → -0.01);
//   - the total excluding VAT is the sum of the rounded line amounts;
//   - for each VAT rate, the VAT is the rate applied to the sum of the
//     rounded amounts of the lines at that rate (its base), rounded the
//     same way once; it is not the sum of per-line VATs;
//   - the total including VAT is the total excluding VAT plus each rate's VAT.

// Limits of a decimal read from the data: enough for any real document, and
// small enough that every product and sum fits in an int64 of cents.
const (
	maxIntDigits  = 12
	maxFracDigits = 6
)

// decimal is a number as written in the data: its exact value and the
// number of digits after the point it was written with.
type decimal struct {
	r     *big.Rat
	scale int
}

// parseDecimal reads a JSON number (float64 or json.Number), a Go integer
// or a string like "-12.50". The string form takes a '.' as the decimal
// point, no exponent and no thousands separator.
func parseDecimal(v any) (decimal, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = string(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return decimal{}, fmt.Errorf("%v is not a number", x)
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return decimal{}, fmt.Errorf("%v is not a number", x)
		}
		s = strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int:
		s = strconv.FormatInt(int64(x), 10)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint:
		s = strconv.FormatUint(uint64(x), 10)
	case uint32:
		s = strconv.FormatUint(uint64(x), 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	default:
		return decimal{}, fmt.Errorf("a %s is not a number", kind(v))
	}
	return parseDecimalString(s)
}

func parseDecimalString(s string) (decimal, error) {
	body := s
	if body != "" && (body[0] == '-' || body[0] == '+') {
		body = body[1:]
	}
	intPart, frac, hasPoint := strings.Cut(body, ".")
	if intPart == "" || hasPoint && frac == "" || !digits(intPart) || !digits(frac) {
		return decimal{}, fmt.Errorf("%q is not a number (write it like 1234.56)", s)
	}
	if len(strings.TrimLeft(intPart, "0")) > maxIntDigits {
		return decimal{}, fmt.Errorf("%q has more than %d digits before the point", s, maxIntDigits)
	}
	if len(frac) > maxFracDigits {
		return decimal{}, fmt.Errorf("%q has more than %d digits after the point", s, maxFracDigits)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return decimal{}, fmt.Errorf("%q is not a number", s)
	}
	return decimal{r: r, scale: len(frac)}, nil
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// trimmed returns d with the trailing zeros of its written form dropped:
// a quantity of "2.500" shows as 2.5.
func (d decimal) trimmed() decimal {
	s := d.r.FloatString(d.scale)
	for d.scale > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
		d.scale--
	}
	return d
}

// String is the canonical form of d: "5.5", "20", "-0.125".
func (d decimal) String() string { return d.r.FloatString(d.trimmed().scale) }

// roundMinor returns r in minor units of a currency with that many
// decimals, rounded half away from zero; ok is false when it overflows.
func roundMinor(r *big.Rat, decimals int) (minor int64, ok bool) {
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	q, m := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	m.Abs(m).Lsh(m, 1)
	if m.Cmp(x.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(x.Num().Sign())))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// Line is what a document line contributes to its totals: decimal strings
// as the data gives them ("2.5", "12.30", "20").
type Line struct {
	Quantity  string
	UnitPrice string
	VATRate   string
}

// Totals are the amounts of a document, in minor units of its currency
// (cents for EUR and USD).
type Totals struct {
	Currency string
	// Lines holds each line's amount, quantity × unit price rounded.
	Lines []int64
	// Net is the total excluding VAT: the sum of Lines.
	Net int64
	// VAT holds one entry per rate, by increasing rate.
	VAT []VAT
	// Gross is the total including VAT: Net plus each rate's VAT.
	Gross int64
}

// VAT is the tax at one rate: its base (the sum of the amounts of the lines
// at that rate) and the rate applied to it, rounded.
type VAT struct {
	Rate   string // as a canonical decimal: "20", "5.5"
	Base   int64
	Amount int64
}

// ComputeTotals computes the totals of lines in currency (ISO 4217, EUR
// when empty) by the rounding rule above. Returns EInvalidInput naming the
// line field that is not a number, or the total that overflows.
func ComputeTotals(lines []Line, currency string) (*Totals, error) {
	cur, err := lookupCurrency(currency)
	if err != nil {
		return nil, err
	}
	ls := make([]line, len(lines))
	for i, l := range lines {
		for _, f := range []struct {
			name, value string
			dst         **decimal
		}{{"quantity", l.Quantity, &ls[i].quantity}, {"unit_price", l.UnitPrice, &ls[i].unitPrice}, {"vat_rate", l.VATRate, &ls[i].vatRate}} {
			d, err := parseDecimalString(f.value)
			if err != nil {
				name := fmt.Sprintf("lines[%d].%s", i, f.name)
				return nil, envoi.FieldError(envoi.EInvalidInput, name, "%v", err)
			}
			*f.dst = &d
		}
	}
	return computeTotals(ls, cur)
}

func computeTotals(lines []line, cur currency) (*Totals, error) {
	t := &Totals{Currency: cur.code, Lines: make([]int64, len(lines))}
	type rateSum struct {
		rate *big.Rat
		base int64
	}
	rates := map[string]*rateSum{}
	for i, l := range lines {
		if l.quantity == nil || l.unitPrice == nil {
			continue
		}
		amount, ok := roundMinor(new(big.Rat).Mul(l.quantity.r, l.unitPrice.r), cur.decimals)
		if !ok {
			return nil, overflow(fmt.Sprintf("lines[%d].amount", i))
		}
		t.Lines[i] = amount
		if t.Net, ok = add(t.Net, amount); !ok {
			return nil, overflow("total")
		}
		if l.vatRate == nil {
			continue
		}
		key := l.vatRate.String()
		rs := rates[key]
		if rs == nil {
			rs = &rateSum{rate: l.vatRate.r}
			rates[key] = rs
		}
		if rs.base, ok = add(rs.base, amount); !ok {
			return nil, overflow("total")
		}
	}
	keys := make([]string, 0, len(rates))
	for k := range rates {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return rates[keys[i]].rate.Cmp(rates[keys[j]].rate) < 0 })
	t.Gross = t.Net
	for _, k := range keys {
		rs := rates[k]
		vat := new(big.Rat).Mul(new(big.Rat).SetInt64(rs.base), rs.rate)
		vat.Quo(vat, big.NewRat(100, 1))
		// base is already in minor units: round to units of it.
		amount, ok := roundMinor(vat, 0)
		if !ok {
			return nil, overflow("total")
		}
		t.VAT = append(t.VAT, VAT{Rate: k, Base: rs.base, Amount: amount})
		if t.Gross, ok = add(t.Gross, amount); !ok {
			return nil, overflow("total")
		}
	}
	return t, nil
}

func add(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0) || b == 0
}

func overflow(name string) error {
	return envoi.FieldError(envoi.EInvalidInput, name, "the amount is too large").WithDetail("parameters", []string{name})
}

// currency is how amounts of one currency are written.
type currency struct {
	code     string
	decimals int    // digits of its minor unit
	symbol   string // "€", "$"; the code itself when it has none here
}

// minorDigits lists the currencies whose minor unit is not the cent
// (ISO 4217); every other currency has two decimals.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

var symbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// lookupCurrency returns the currency of an ISO 4217 code (EUR when empty);
// EInvalidInput naming "currency" when code is not three letters.
func lookupCurrency(code string) (currency, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if code == "" {
		code = "EUR"
	}
	if len(code) != 3 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return currency{}, envoi.FieldError(envoi.EInvalidInput, "currency", "%q is not an ISO 4217 currency code", code)
	}
	c := currency{code: code, decimals: 2, symbol: code}
	if d, ok := minorDigits[code]; ok {
		c.decimals = d
	}
	if s, ok := symbols[code]; ok {
		c.symbol = s
	}
	return c, nil
}

// numberFormat is how one language writes numbers.
type numberFormat struct {
	group, point string
	// symbolFirst writes "$1.00" (English); otherwise "1,00 $" with a
	// no-break space.
	symbolFirst bool
	percent     string
}

// The French thousands separator is U+202F NARROW NO-BREAK SPACE and the
// space before "€" or "%" is U+00A0 NO-BREAK SPACE, as in Unicode CLDR:
// an amount never breaks across lines. Spanish groups with '.', English
// with ','.
var numberFormats = map[string]numberFormat{
	"fr": {group: "\u202f", point: ",", percent: "\u00a0%"},
	"es": {group: ".", point: ",", percent: "\u00a0%"},
	"en": {group: ",", point: ".", symbolFirst: true, percent: "%"},
}

func formatFor(lang string) numberFormat {
	if nf, ok := numberFormats[lang]; ok {
		return nf
	}
	return numberFormats["fr"]
}

// FormatMoney writes an amount given in minor units of currency (ISO 4217,
// EUR when empty) the way lang (fr, en or es; fr otherwise) writes money:
// fr "1 234,56 €" (U+202F between thousands, U+00A0 before the symbol),
// es "1.234,56 €", en "€1,234.56" and "$1,234.56"; a currency without a
// symbol here is written with its code: "1 234,56 CHF", "CHF 1,234.56".
// An invalid currency code is written as given.
func FormatMoney(minor int64, currencyCode, lang string) string {
	cur, err := lookupCurrency(currencyCode)
	if err != nil {
		cur = currency{code: currencyCode, decimals: 2, symbol: currencyCode}
	}
	r := new(big.Rat).SetFrac(big.NewInt(minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cur.decimals)), nil))
	return formatMoney(r, cur.decimals, cur, lang)
}

// formatMoney writes r with scale decimals and the currency's symbol.
func formatMoney(r *big.Rat, scale int, cur currency, lang string) string {
	nf := formatFor(lang)
	num := formatRat(r, scale, nf)
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	var s string
	switch {
	case nf.symbolFirst && len(cur.symbol) == 3 && cur.symbol == cur.code:
		s = cur.symbol + "\u00a0" + num
	case nf.symbolFirst:
		s = cur.symbol + num
	default:
		s = num + "\u00a0" + cur.symbol
	}
	if neg {
		s = "-" + s
	}
	return s
}

// formatPrice writes a unit price with at least the currency's decimals,
// more when it was written with more (0.125 stays 0.125).
func formatPrice(d decimal, cur currency, lang string) string {
	return formatMoney(d.r, max(d.trimmed().scale, cur.decimals), cur, lang)
}

// formatNumber writes a quantity with the decimals it has (2.50 → "2,5").
func formatNumber(d decimal, lang string) string {
	t := d.trimmed()
	return formatRat(t.r, t.scale, formatFor(lang))
}

func formatPercent(d decimal, lang string) string {
	return formatNumber(d, lang) + formatFor(lang).percent
}

// formatRat writes r with scale decimals, grouping thousands.
func formatRat(r *big.Rat, scale int, nf numberFormat) string {
	s := r.FloatString(scale)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(nf.group)
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString(nf.point)
		b.WriteString(frac)
	}
	return b.String()
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	default:
		return fmt.Sprintf("%T", v)
	}
}

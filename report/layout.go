package report

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	_ "image/jpeg" // logos
	_ "image/png"
	"io"
	"math"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"envoi"
)

//go:embed fonts/DejaVuSansCondensed.ttf
var fontRegular []byte

//go:embed fonts/DejaVuSansCondensed-Bold.ttf
var fontBold []byte

// The page, in millimetres: A4 portrait.
const (
	pageW        = 210.0
	pageH        = 297.0
	marginX      = 15.0
	marginTop    = 15.0
	marginBottom = 22.0 // below it: the footer
	contentW     = pageW - 2*marginX
	breakAt      = pageH - marginBottom
	// contTop is where the content resumes on pages after the first,
	// under the running header.
	contTop = marginTop + 9

	family    = "dejavu"
	rowLineH  = 4.2 // a line of text in the table
	rowPad    = 1.0 // above and below the text of a row
	headerH   = 7.0 // the table's header row
	tableFont = 8.0
	bodyFont  = 9.0
	maxLogoW  = 55.0
	maxLogoH  = 22.0
)

// Widths of the table columns; the description takes what is left.
var columnWidths = map[string]float64{
	FieldArticle: 26, FieldQuantity: 16, FieldUnit: 14, FieldUnitPrice: 25, FieldVATRate: 14, ColumnAmount: 27,
}

// doc is one document being drawn.
type doc struct {
	ctx     context.Context
	t       *Template
	vals    values
	totals  map[string]*Totals
	company *envoi.Company
	logos   *logoCache
	lang    string
	cur     currency

	pdf       *fpdf.Fpdf
	name      string // the company's, printable
	heading   string // title and number, in the running header and footer
	prevBlock string
	sideTop   float64 // top of the company block, for the recipient beside it
	sideEnd   float64 // bottom of the company block
}

// draw writes the PDF of d to w, dated created.
func (d *doc) draw(w io.Writer, created time.Time) error {
	f := fpdf.New("P", "mm", "A4", "")
	d.pdf = f
	d.name = cleanText(d.company.Name)
	f.SetCatalogSort(true)
	f.SetCreationDate(created)
	f.SetModificationDate(created)
	f.SetCreator("envoi", false)
	f.SetMargins(marginX, marginTop, marginX)
	f.SetAutoPageBreak(true, marginBottom)
	f.AddUTF8FontFromBytes(family, "", fontRegular)
	f.AddUTF8FontFromBytes(family, "B", fontBold)
	// After the fonts: fpdf then keeps digits in every font subset, which
	// the page count written at the end needs.
	f.AliasNbPages("{nb}")

	title := d.in(d.t.Title)
	d.heading = title
	for _, b := range d.t.Blocks {
		if b.Type == BlockTitle && b.Parameter != "" {
			if n, ok := d.vals[b.Parameter].(string); ok {
				d.heading = title + " " + label("number", d.lang) + " " + n
			}
			break
		}
	}
	f.SetTitle(d.heading, true)
	f.SetAuthor(d.name, true)
	f.SetLang(d.lang)
	f.SetHeaderFunc(d.runningHeader)
	f.SetFooterFunc(d.footer)
	f.AddPage()

	for _, b := range d.t.Blocks {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		var err error
		switch b.Type {
		case BlockCompany:
			err = d.companyBlock()
		case BlockRecipient:
			d.recipientBlock(b)
		case BlockTitle:
			d.titleBlock()
		case BlockFields:
			d.fieldsBlock(b)
		case BlockLines:
			err = d.linesBlock(b)
		case BlockTotals:
			d.totalsBlock(b)
		case BlockText:
			d.textBlock(b)
		}
		if err != nil {
			return err
		}
		if f.Err() {
			break
		}
		d.prevBlock = b.Type
	}
	if err := f.Output(w); err != nil {
		return envoi.Errorf(envoi.EInternal, "report: write the PDF: %v", err)
	}
	return nil
}

// in returns t in the document's language, printable.
func (d *doc) in(t Text) string { return cleanText(t.In(d.lang)) }

func (d *doc) font(style string, size float64) { d.pdf.SetFont(family, style, size) }

func (d *doc) gray(level int) { d.pdf.SetTextColor(level, level, level) }

// runningHeader names the document at the top of every page but the first.
func (d *doc) runningHeader() {
	f := d.pdf
	if f.PageNo() == 1 {
		return
	}
	d.font("", 7.5)
	d.gray(110)
	text := d.heading + " " + label("continued", d.lang)
	if d.name != "" {
		text = d.name + " — " + text
	}
	f.SetXY(marginX, marginTop)
	f.CellFormat(contentW, 4, d.fit(text, contentW), "", 0, "L", false, 0, "")
	f.SetDrawColor(200, 200, 200)
	f.Line(marginX, marginTop+5, marginX+contentW, marginTop+5)
	d.gray(0)
	f.SetY(contTop)
}

// footer writes "Page N/M" and the document's name at the bottom.
func (d *doc) footer() {
	f := d.pdf
	y := pageH - marginBottom + 7
	f.SetDrawColor(200, 200, 200)
	f.Line(marginX, y-1.5, marginX+contentW, y-1.5)
	d.font("", 7.5)
	d.gray(110)
	f.SetXY(marginX, y)
	f.CellFormat(contentW-40, 4, d.fit(d.heading, contentW-40), "", 0, "L", false, 0, "")
	f.CellFormat(40, 4, fmt.Sprintf(label("page", d.lang), f.PageNo(), "{nb}"), "", 0, "R", false, 0, "")
	d.gray(0)
}

// companyBlock draws the logo, name and address of the company, top left.
func (d *doc) companyBlock() error {
	f := d.pdf
	top := f.GetY()
	y := top
	if len(d.company.Logo) > 0 {
		w, h, err := d.logo()
		if err != nil {
			return err
		}
		f.ImageOptions("logo", marginX, y, w, h, false, fpdf.ImageOptions{}, 0, "")
		y += h + 3
	}
	f.SetXY(marginX, y)
	if d.name != "" {
		d.font("B", 11)
		f.CellFormat(90, 5.5, d.fit(d.name, 90), "", 2, "L", false, 0, "")
	}
	d.font("", 8.5)
	for _, l := range splitLines(d.company.Address, maxAddressLines) {
		f.CellFormat(90, 4, d.fit(l, 90), "", 2, "L", false, 0, "")
	}
	d.sideTop, d.sideEnd = top, f.GetY()
	f.SetXY(marginX, f.GetY()+5)
	return nil
}

// logo registers the company's logo and returns its size on the page,
// fitted in maxLogoW × maxLogoH. Returns EInvalidInput naming "logo" when
// it is not a PNG or JPEG image within envoi's logo limits. The logo is
// decoded once for all renders (logo.go).
func (d *doc) logo() (w, h float64, err error) {
	p, err := d.logos.get(d.company.Logo)
	if err != nil {
		return 0, 0, err
	}
	info := d.pdf.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(p.png))
	if d.pdf.Err() || info == nil {
		err := d.pdf.Error()
		d.pdf.ClearError()
		return 0, 0, envoi.FieldError(envoi.EInvalidInput, "logo", "the company's logo cannot be printed: %v", err)
	}
	w, h = float64(p.w), float64(p.h)
	scale := math.Min(maxLogoW/w, maxLogoH/h)
	return w * scale, h * scale, nil
}

// recipientBlock draws a party at the right: beside the company block when
// it follows it (where a window envelope shows it), else at the current line.
func (d *doc) recipientBlock(b Block) {
	f := d.pdf
	const x, w = 110.0, 85.0
	y := f.GetY()
	if d.prevBlock == BlockCompany {
		y = d.sideTop + 18
	}
	p, ok := d.vals[b.Parameter].(party)
	if !ok {
		return
	}
	f.SetXY(x, y)
	d.font("", 7.5)
	d.gray(110)
	heading := d.in(b.Label)
	if heading == "" {
		heading = label("recipient_default", d.lang)
	}
	f.CellFormat(w, 4, d.fit(heading, w), "", 2, "L", false, 0, "")
	d.gray(0)
	d.font("B", 10)
	f.CellFormat(w, 5, d.fit(p.name, w), "", 2, "L", false, 0, "")
	d.font("", 9)
	for _, l := range p.address {
		f.CellFormat(w, 4.4, d.fit(l, w), "", 2, "L", false, 0, "")
	}
	end := f.GetY()
	if d.prevBlock == BlockCompany {
		end = math.Max(end, d.sideEnd)
	}
	f.SetXY(marginX, end+6)
}

// titleBlock writes the template's title and the document's number.
func (d *doc) titleBlock() {
	f := d.pdf
	d.font("B", 15)
	f.SetX(marginX)
	f.MultiCell(contentW, 7, d.heading, "", "L", false)
	f.Ln(2)
}

// fieldsBlock writes label: value rows; absent optional values are skipped.
func (d *doc) fieldsBlock(b Block) {
	f := d.pdf
	const labelW = 42.0
	for _, fl := range b.Fields {
		v, ok := d.vals[fl.Parameter]
		if !ok {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case time.Time:
			s = formatDate(x, d.lang)
		case decimal:
			if d.paramType(fl.Parameter) == TypeMoney {
				s = formatPrice(x, d.cur, d.lang)
			} else {
				s = formatNumber(x, d.lang)
			}
		}
		f.SetX(marginX)
		d.font("B", bodyFont)
		f.CellFormat(labelW, 4.8, d.fit(d.in(fl.Label), labelW), "", 0, "L", false, 0, "")
		d.font("", bodyFont)
		f.MultiCell(contentW-labelW, 4.8, s, "", "L", false)
	}
	f.Ln(3)
}

func (d *doc) paramType(name string) string {
	for _, p := range d.t.Parameters {
		if p.Name == name {
			return p.Type
		}
	}
	return ""
}

// textBlock writes a paragraph: the block's text or a text parameter.
func (d *doc) textBlock(b Block) {
	f := d.pdf
	s := d.in(b.Text)
	if b.Parameter != "" {
		s, _ = d.vals[b.Parameter].(string)
	}
	if s == "" {
		return
	}
	f.Ln(2)
	f.SetX(marginX)
	if l := d.in(b.Label); l != "" {
		d.font("B", bodyFont)
		f.CellFormat(contentW, 5, d.fit(l, contentW), "", 1, "L", false, 0, "")
	}
	d.font("", bodyFont)
	f.MultiCell(contentW, 4.5, s, "", "L", false)
	f.Ln(1)
}

// column is one column of a lines table.
type column struct {
	name  string
	width float64
	align string
}

func (d *doc) columns(names []string) []column {
	cols := make([]column, len(names))
	fixed, hasDesc := 0.0, false
	for i, n := range names {
		cols[i] = column{name: n, width: columnWidths[n], align: "R"}
		switch n {
		case FieldArticle, FieldDescription, FieldUnit:
			cols[i].align = "L"
		}
		if n == FieldDescription {
			hasDesc = true
		}
		fixed += cols[i].width
	}
	for i := range cols {
		switch {
		case hasDesc && cols[i].name == FieldDescription:
			cols[i].width = math.Max(contentW-fixed, 30)
		case !hasDesc:
			cols[i].width *= contentW / fixed
		}
	}
	return cols
}

// linesBlock draws the table of a lines parameter. A row moves whole to the
// next page when it does not fit; a description longer than a page
// continues on the next. Each page of the table starts with its header row.
func (d *doc) linesBlock(b Block) error {
	f := d.pdf
	ls, _ := d.vals[b.Parameter].([]line)
	if len(ls) == 0 {
		return nil
	}
	amounts := d.totals[b.Parameter].Lines
	cols := d.columns(b.Columns)
	descW := 0.0
	for _, c := range cols {
		if c.name == FieldDescription {
			descW = c.width
		}
	}

	header := func() {
		f.SetX(marginX)
		d.font("B", tableFont)
		f.SetFillColor(232, 232, 232)
		f.SetDrawColor(170, 170, 170)
		for _, c := range cols {
			f.CellFormat(c.width, headerH, d.fit(label(c.name, d.lang), c.width), "1", 0, alignHeader(c.align), true, 0, "")
		}
		f.Ln(headerH)
	}
	newPage := func() {
		f.AddPage()
		header()
	}
	// Lines of description a fresh page holds under the table's header.
	perPage := int(math.Floor((breakAt - contTop - headerH - 2*rowPad) / rowLineH))

	f.Ln(1)
	if f.GetY()+headerH+rowLineH+2*rowPad > breakAt {
		f.AddPage()
	}
	header()
	for i, l := range ls {
		if i%64 == 0 {
			if err := d.ctx.Err(); err != nil {
				return err
			}
		}
		d.font("", tableFont)
		desc := []string{""}
		if descW > 0 {
			if s := l.text[FieldDescription]; s != "" {
				desc = f.SplitText(s, descW)
			}
		}
		first := true
		for first || len(desc) > 0 {
			avail := int((breakAt - f.GetY() - 2*rowPad) / rowLineH)
			need := max(len(desc), 1)
			if need > avail && (first && need <= perPage || avail < 1) {
				newPage()
				continue
			}
			k := min(need, avail)
			chunk := desc[:min(k, len(desc))]
			desc = desc[len(chunk):]
			d.row(cols, l, amounts[i], chunk, k, first)
			first = false
		}
	}
	f.Ln(2)
	return nil
}

func alignHeader(a string) string { return a + "M" }

// row draws one row (or the part of a long row that fits on this page):
// the description's lines given, the other cells only on the first part.
func (d *doc) row(cols []column, l line, amount int64, desc []string, nLines int, first bool) {
	f := d.pdf
	y := f.GetY()
	h := float64(nLines)*rowLineH + 2*rowPad
	x := marginX
	d.font("", tableFont)
	for _, c := range cols {
		if c.name == FieldDescription {
			for k, s := range desc {
				f.SetXY(x, y+rowPad+float64(k)*rowLineH)
				f.CellFormat(c.width, rowLineH, s, "", 0, "L", false, 0, "")
			}
		} else if first {
			f.SetXY(x, y+rowPad)
			d.cell(c, d.cellText(c.name, l, amount))
		}
		x += c.width
	}
	f.SetDrawColor(215, 215, 215)
	f.Line(marginX, y+h, marginX+contentW, y+h)
	f.SetXY(marginX, y+h)
}

// cell writes one table cell; a number too wide for its column is written
// smaller rather than cut, a text is cut with an ellipsis.
func (d *doc) cell(c column, s string) {
	f := d.pdf
	room := c.width - 2*f.GetCellMargin()
	if c.align == "R" {
		size := tableFont
		for size > 5 && f.GetStringWidth(s) > room {
			size -= 0.5
			f.SetFontSize(size)
		}
		f.CellFormat(c.width, rowLineH, s, "", 0, "R", false, 0, "")
		f.SetFontSize(tableFont)
		return
	}
	f.CellFormat(c.width, rowLineH, d.fit(s, c.width), "", 0, c.align, false, 0, "")
}

func (d *doc) cellText(col string, l line, amount int64) string {
	switch col {
	case FieldQuantity:
		if l.quantity != nil {
			return formatNumber(*l.quantity, d.lang)
		}
	case FieldUnitPrice:
		if l.unitPrice != nil {
			return formatPrice(*l.unitPrice, d.cur, d.lang)
		}
	case FieldVATRate:
		if l.vatRate != nil {
			return formatPercent(*l.vatRate, d.lang)
		}
	case ColumnAmount:
		if l.quantity != nil && l.unitPrice != nil {
			return FormatMoney(amount, d.cur.code, d.lang)
		}
	default:
		return l.text[col]
	}
	return ""
}

// totalsBlock writes the totals excluding VAT, the VAT of each rate on its
// base, and the total including VAT, at the right.
func (d *doc) totalsBlock(b Block) {
	f := d.pdf
	t := d.totals[b.Parameter]
	if t == nil {
		return
	}
	const labelW, amountW, rowH = 62.0, 36.0, 5.5
	x := marginX + contentW - labelW - amountW
	need := float64(len(t.VAT)+2)*rowH + 4
	if f.GetY()+need > breakAt {
		f.AddPage()
	}
	f.Ln(1)
	money := func(v int64) string { return FormatMoney(v, d.cur.code, d.lang) }
	rowf := func(style, lbl, amount, border string) {
		f.SetX(x)
		d.font(style, bodyFont)
		f.CellFormat(labelW, rowH, d.fit(lbl, labelW), border, 0, "L", false, 0, "")
		f.CellFormat(amountW, rowH, amount, border, 1, "R", false, 0, "")
	}
	f.SetDrawColor(120, 120, 120)
	rowf("", label("net", d.lang), money(t.Net), "")
	for _, v := range t.VAT {
		rate, _ := parseDecimalString(v.Rate)
		rowf("", fmt.Sprintf(label("vat", d.lang), formatPercent(rate, d.lang), money(v.Base)), money(v.Amount), "")
	}
	rowf("B", label("gross", d.lang), money(t.Gross), "T")
	f.Ln(2)
}

// fit makes s one line, cut with an ellipsis so it fits in a cell of width w.
func (d *doc) fit(s string, w float64) string {
	f := d.pdf
	s = strings.ReplaceAll(s, "\n", " ")
	room := w - 2*f.GetCellMargin()
	if f.GetStringWidth(s) <= room {
		return s
	}
	r := []rune(s)
	// Start near the right length, then shorten rune by rune.
	r = r[:min(len(r), int(float64(len(r))*room/f.GetStringWidth(s))+1)]
	for len(r) > 0 && f.GetStringWidth(string(r)+"…") > room {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// splitLines splits a multi-line text into at most n lines.
func splitLines(s string, n int) []string {
	s = strings.TrimSpace(cleanText(s))
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return lines
}

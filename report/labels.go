package report

import (
	"fmt"
	"time"
)

// labels are the words the layout itself writes, in each language.
var labels = map[string]Text{
	"number":            {"fr": "N°", "en": "No.", "es": "N.º"},
	"page":              {"fr": "Page %d/%s", "en": "Page %d/%s", "es": "Página %d/%s"},
	"net":               {"fr": "Total HT", "en": "Total excl. VAT", "es": "Base imponible"},
	"vat":               {"fr": "TVA %s sur %s", "en": "VAT %s on %s", "es": "IVA %s sobre %s"},
	"gross":             {"fr": "Total TTC", "en": "Total incl. VAT", "es": "Total"},
	FieldArticle:        {"fr": "Article", "en": "Item", "es": "Artículo"},
	FieldDescription:    {"fr": "Désignation", "en": "Description", "es": "Descripción"},
	FieldQuantity:       {"fr": "Qté", "en": "Qty", "es": "Cant."},
	FieldUnit:           {"fr": "Unité", "en": "Unit", "es": "Unidad"},
	FieldUnitPrice:      {"fr": "P.U. HT", "en": "Unit price", "es": "Precio unit."},
	FieldVATRate:        {"fr": "TVA", "en": "VAT", "es": "IVA"},
	ColumnAmount:        {"fr": "Montant HT", "en": "Amount", "es": "Importe"},
	"continued":         {"fr": "(suite)", "en": "(continued)", "es": "(continuación)"},
	"recipient_default": {"fr": "Destinataire", "en": "To", "es": "Destinatario"},
}

func label(key, lang string) string { return labels[key].In(lang) }

var monthsEN = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// formatDate writes a date as lang does: fr and es 14/03/2025, en
// March 14, 2025.
func formatDate(d time.Time, lang string) string {
	if lang == "en" {
		return fmt.Sprintf("%s %d, %d", monthsEN[d.Month()-1], d.Day(), d.Year())
	}
	return d.Format("02/01/2006")
}

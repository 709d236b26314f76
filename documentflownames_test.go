package envoi_test

import (
	"testing"

	"envoi"
)

func TestDocumentFlowNameIn(t *testing.T) {
	bl := &envoi.DocumentFlow{Code: "BL", Name: "Delivery note", Builtin: true}
	for lang, want := range map[string]string{"en": "Delivery note", "fr": "Bon de livraison", "es": "Albarán de entrega", "de": "Delivery note"} {
		if got := bl.NameIn(lang); got != want {
			t.Errorf("BL in %s: %q, want %q", lang, got, want)
		}
	}
	renamed := &envoi.DocumentFlow{Code: "BL", Name: "BL Helios", Builtin: true}
	if got := renamed.NameIn("fr"); got != "BL Helios" {
		t.Errorf("a renamed built-in flow in fr: %q, want its own name", got)
	}
	own := &envoi.DocumentFlow{Code: "RETOUR", Name: "Return note"}
	if got := own.NameIn("es"); got != "Return note" {
		t.Errorf("an administrator's flow: %q", got)
	}
}

package http

import (
	"testing"

	"envoi"
)

// TestConsentTextsComplete checks that the callback page has each of its
// words in every language envoi speaks.
func TestConsentTextsComplete(t *testing.T) {
	for key, texts := range consentTexts {
		for _, lang := range envoi.Languages {
			if texts[lang] == "" {
				t.Errorf("consent text %q has no %s", key, lang)
			}
		}
	}
}

package envoi

// builtinFlowNames are the names of the built-in document flows (seeded by
// migrations 00002 and 00004) in each language envoi speaks; the English
// one is the name stored at the seed.
var builtinFlowNames = map[string]map[string]string{
	"BL":                       {"en": "Delivery note", "fr": "Bon de livraison", "es": "Albarán de entrega"},
	"FACTURE_CLIENT":           {"en": "Customer invoice", "fr": "Facture client", "es": "Factura de cliente"},
	"AVOIR_CLIENT":             {"en": "Customer credit note", "fr": "Avoir client", "es": "Nota de crédito de cliente"},
	"DEVIS_CLIENT":             {"en": "Customer quote", "fr": "Devis client", "es": "Presupuesto de cliente"},
	"DEVIS_RELANCE":            {"en": "Quote reminder", "fr": "Relance de devis", "es": "Recordatorio de presupuesto"},
	"C_CMD_ARC":                {"en": "Customer order acknowledgement", "fr": "Accusé de réception de commande client", "es": "Confirmación de pedido de cliente"},
	"APPEL_OFFRE":              {"en": "Call for tenders", "fr": "Appel d'offres", "es": "Solicitud de ofertas"},
	"F_CMD_ENVOI":              {"en": "Supplier order", "fr": "Commande fournisseur", "es": "Pedido a proveedor"},
	"F_CMD_RELANCE":            {"en": "Supplier order reminder", "fr": "Relance de commande fournisseur", "es": "Recordatorio de pedido a proveedor"},
	"F_CMD_LST_REL":            {"en": "Supplier order reminder list", "fr": "Liste de relances de commandes fournisseur", "es": "Lista de recordatorios de pedidos a proveedor"},
	"S_CMD_ENVOI":              {"en": "Subcontract order", "fr": "Commande de sous-traitance", "es": "Pedido de subcontratación"},
	"S_CMD_RELANCE":            {"en": "Subcontract order reminder", "fr": "Relance de commande de sous-traitance", "es": "Recordatorio de pedido de subcontratación"},
	"S_CMD_LST_REL":            {"en": "Subcontract order reminder list", "fr": "Liste de relances de commandes de sous-traitance", "es": "Lista de recordatorios de pedidos de subcontratación"},
	"GED_DIFFUSION":            {"en": "Document distribution (GED)", "fr": "Diffusion de document (GED)", "es": "Difusión de documento (GED)"},
	"NC_DIFFUSION":             {"en": "Non-conformity distribution", "fr": "Diffusion de non-conformité", "es": "Difusión de no conformidad"},
	"NC_RELANCE":               {"en": "Non-conformity reminder", "fr": "Relance de non-conformité", "es": "Recordatorio de no conformidad"},
	"NC_CREATION":              {"en": "Non-conformity creation", "fr": "Création de non-conformité", "es": "Creación de no conformidad"},
	"EVT_DIFFUSION":            {"en": "Event distribution", "fr": "Diffusion d'événement", "es": "Difusión de evento"},
	"EVT_RELANCE":              {"en": "Event reminder", "fr": "Relance d'événement", "es": "Recordatorio de evento"},
	"REVUE_CONTRAT_VALIDATION": {"en": "Contract review validation", "fr": "Validation de revue de contrat", "es": "Validación de revisión de contrato"},
	"CLIENT_CREATION":          {"en": "Customer creation", "fr": "Création de client", "es": "Alta de cliente"},
	"ARTICLE_CREATION":         {"en": "Article creation", "fr": "Création d'article", "es": "Alta de artículo"},
	"APPRO_PARTIEL":            {"en": "Partial supply", "fr": "Approvisionnement partiel", "es": "Aprovisionamiento parcial"},
	"ETAT_DIFF":                {"en": "Dashboard state distribution", "fr": "Diffusion d'état de tableau de bord", "es": "Difusión de estado del cuadro de mando"},
	"DEM_HA_CREE":              {"en": "Purchase request created", "fr": "Demande d'achat créée", "es": "Solicitud de compra creada"},
	"FAI_CREE":                 {"en": "First article inspection created", "fr": "Inspection premier article créée", "es": "Inspección de primer artículo creada"},
	"PASSWORD_RECOVERY":        {"en": "Password recovery", "fr": "Récupération du mot de passe", "es": "Recuperación de contraseña"},
	"DOCUMENTS_BANCAIRES":      {"en": "Bank documents", "fr": "Documents bancaires", "es": "Documentos bancarios"},
	"RETENCIONES":              {"en": "Tax withholdings", "fr": "Retenues fiscales", "es": "Retenciones"},
	"CONSENT_REQUIRED":         {"en": "Consent required (sent by envoi)", "fr": "Autorisation à renouveler (envoyé par envoi)", "es": "Autorización requerida (enviado por envoi)"},
}

// NameIn returns the name of d to show in lang (en, fr or es): a built-in
// flow the administrator has not renamed is shown in lang; a renamed one,
// and any flow of the administrator's, by its stored name.
func (d *DocumentFlow) NameIn(lang string) string {
	names, ok := builtinFlowNames[d.Code]
	if !d.Builtin || !ok || d.Name != names["en"] {
		return d.Name
	}
	if n, ok := InLanguage(names, lang); ok {
		return n
	}
	return d.Name
}

// Localized returns a copy of d whose Name is NameIn(lang).
func (d *DocumentFlow) Localized(lang string) *DocumentFlow {
	c := *d
	c.Name = d.NameIn(lang)
	return &c
}

-- The catalogue of document flows of SPEC.md: the first seed's list, plus
-- password recovery, bank documents and tax withholdings from the second.
-- Built-in flows can be renamed and given more keywords, not deleted.

-- +goose Up
INSERT INTO document_flows (code, name, keywords, report, builtin, updated_at) VALUES
    ('BL', 'Delivery note', '["SOCIETE","ID_BL","CLIENT","DATE"]', 'delivery_note', TRUE, now()),
    ('FACTURE_CLIENT', 'Customer invoice', '["SOCIETE","ID_FACTURE","CLIENT","DATE","MONTANT"]', 'invoice', TRUE, now()),
    ('AVOIR_CLIENT', 'Customer credit note', '["SOCIETE","ID_AVOIR","CLIENT","DATE","MONTANT"]', 'credit_note', TRUE, now()),
    ('DEVIS_CLIENT', 'Customer quote', '["SOCIETE","ID_DEVIS","CLIENT","DATE"]', 'quote', TRUE, now()),
    ('DEVIS_RELANCE', 'Quote reminder', '["SOCIETE","ID_DEVIS","CLIENT","DATE"]', 'quote', TRUE, now()),
    ('C_CMD_ARC', 'Customer order acknowledgement', '["SOCIETE","ID_CMD","CLIENT","DATE"]', 'order_ack', TRUE, now()),
    ('APPEL_OFFRE', 'Call for tenders', '["SOCIETE","ID_APPEL_OFFRE","FOURNISSEUR","DATE"]', '', TRUE, now()),
    ('F_CMD_ENVOI', 'Supplier order', '["SOCIETE","ID_CMD","FOURNISSEUR","DATE"]', 'supplier_order', TRUE, now()),
    ('F_CMD_RELANCE', 'Supplier order reminder', '["SOCIETE","ID_CMD","FOURNISSEUR","DATE"]', 'supplier_order_reminder', TRUE, now()),
    ('F_CMD_LST_REL', 'Supplier order reminder list', '["SOCIETE","FOURNISSEUR","DATE"]', '', TRUE, now()),
    ('S_CMD_ENVOI', 'Subcontract order', '["SOCIETE","ID_CMD","SOUS_TRAITANT","DATE"]', '', TRUE, now()),
    ('S_CMD_RELANCE', 'Subcontract order reminder', '["SOCIETE","ID_CMD","SOUS_TRAITANT","DATE"]', '', TRUE, now()),
    ('S_CMD_LST_REL', 'Subcontract order reminder list', '["SOCIETE","SOUS_TRAITANT","DATE"]', '', TRUE, now()),
    ('GED_DIFFUSION', 'Document distribution (GED)', '["SOCIETE","ID_DOCUMENT","TITRE"]', '', TRUE, now()),
    ('NC_DIFFUSION', 'Non-conformity distribution', '["SOCIETE","ID_NC","TITRE"]', '', TRUE, now()),
    ('NC_RELANCE', 'Non-conformity reminder', '["SOCIETE","ID_NC","TITRE"]', '', TRUE, now()),
    ('NC_CREATION', 'Non-conformity creation', '["SOCIETE","ID_NC","TITRE"]', '', TRUE, now()),
    ('EVT_DIFFUSION', 'Event distribution', '["SOCIETE","ID_EVENEMENT","TITRE"]', '', TRUE, now()),
    ('EVT_RELANCE', 'Event reminder', '["SOCIETE","ID_EVENEMENT","TITRE"]', '', TRUE, now()),
    ('REVUE_CONTRAT_VALIDATION', 'Contract review validation', '["SOCIETE","ID_CONTRAT","CLIENT"]', '', TRUE, now()),
    ('CLIENT_CREATION', 'Customer creation', '["SOCIETE","ID_CLIENT","CLIENT"]', '', TRUE, now()),
    ('ARTICLE_CREATION', 'Article creation', '["SOCIETE","ID_ARTICLE","ARTICLE"]', '', TRUE, now()),
    ('APPRO_PARTIEL', 'Partial supply', '["SOCIETE","ID_CMD","ARTICLE"]', '', TRUE, now()),
    ('ETAT_DIFF', 'Dashboard state distribution', '["SOCIETE","TABLEAU","DATE"]', '', TRUE, now()),
    ('DEM_HA_CREE', 'Purchase request created', '["SOCIETE","ID_DEMANDE","DEMANDEUR"]', '', TRUE, now()),
    ('FAI_CREE', 'First article inspection created', '["SOCIETE","ID_FAI","ARTICLE"]', '', TRUE, now()),
    ('PASSWORD_RECOVERY', 'Password recovery', '["SOCIETE","UTILISATEUR","LIEN"]', '', TRUE, now()),
    ('DOCUMENTS_BANCAIRES', 'Bank documents', '["SOCIETE","ID_DOCUMENT","BANQUE","DATE"]', '', TRUE, now()),
    ('RETENCIONES', 'Tax withholdings', '["SOCIETE","ID_RETENCION","PROVEEDOR","DATE"]', '', TRUE, now());

-- +goose Down
DELETE FROM document_flows WHERE builtin AND code IN ('BL', 'FACTURE_CLIENT', 'AVOIR_CLIENT', 'DEVIS_CLIENT', 'DEVIS_RELANCE', 'C_CMD_ARC', 'APPEL_OFFRE', 'F_CMD_ENVOI', 'F_CMD_RELANCE', 'F_CMD_LST_REL', 'S_CMD_ENVOI', 'S_CMD_RELANCE', 'S_CMD_LST_REL', 'GED_DIFFUSION', 'NC_DIFFUSION', 'NC_RELANCE', 'NC_CREATION', 'EVT_DIFFUSION', 'EVT_RELANCE', 'REVUE_CONTRAT_VALIDATION', 'CLIENT_CREATION', 'ARTICLE_CREATION', 'APPRO_PARTIEL', 'ETAT_DIFF', 'DEM_HA_CREE', 'FAI_CREE', 'PASSWORD_RECOVERY', 'DOCUMENTS_BANCAIRES', 'RETENCIONES');

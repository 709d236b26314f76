package envoi

import "context"

// The store's services. One adapter (sqlstore) implements them all on SQLite
// and PostgreSQL; consumers depend on the smallest one they need. Every
// lookup returns an *Error with a code when nothing is found (ENotFound, or
// the catalogue's specific code where the doc says so), never nil, nil.

// Cipher encrypts secrets at rest. aad binds a ciphertext to its place
// ("table/column/row"), so a ciphertext moved to another row does not open.
type Cipher interface {
	Seal(plaintext []byte, aad string) ([]byte, error)
	Open(ciphertext []byte, aad string) ([]byte, error)
}

// CompanyService stores companies.
type CompanyService interface {
	PutCompany(ctx context.Context, c *Company) error
	Company(ctx context.Context, code string) (*Company, error)
	Companies(ctx context.Context) ([]*Company, error)
	DeleteCompany(ctx context.Context, code string) error
}

// OperatorService stores operators and groups. Operator returns the SMTP
// password decrypted; PutOperator keeps the stored password when
// SMTPPassword is empty, unless it is bound to an SMTP server other than
// the one of the operator's flow (see Repoint), and removes it when
// ClearSMTPPassword is set. PutOperator creates the operator's group if needed.
type OperatorService interface {
	PutOperator(ctx context.Context, o *Operator) error
	Operator(ctx context.Context, code string) (*Operator, error)
	Operators(ctx context.Context) ([]*Operator, error)
	DeleteOperator(ctx context.Context, code string) error
	PutGroup(ctx context.Context, g *Group) error
	Group(ctx context.Context, code string) (*Group, error)
	Groups(ctx context.Context) ([]*Group, error)
	DeleteGroup(ctx context.Context, code string) error
}

// AuthFlowService stores authentication flows. PutAuthFlow applies the
// preset, validates (EInvalidFlowData naming the field), keeps stored secrets
// when the new ones are empty unless the change re-points the flow (Repoint:
// they are dropped, and f.Dropped says so), and refuses an operator who would be in two
// flows, directly or through a group (EInvalidFlowData naming the other
// flow); all in one transaction. AuthFlow returns secrets decrypted.
type AuthFlowService interface {
	PutAuthFlow(ctx context.Context, f *AuthFlow) error
	AuthFlow(ctx context.Context, code string) (*AuthFlow, error)
	AuthFlows(ctx context.Context) ([]*AuthFlow, error)
	DeleteAuthFlow(ctx context.Context, code string) error
	// FlowForOperator returns the one flow the operator is assigned to,
	// directly or through their group; ENoFlowForOperator if none.
	FlowForOperator(ctx context.Context, operator string) (*AuthFlow, error)
}

// DocumentService stores the catalogue of document flows, their mail
// settings and file-name rules. MailSetting returns EMailSettingNotFound
// when the document flow has none; PutMailSetting and PutFileNameRule refuse
// keywords the document flow does not declare (EUnknownKeyword).
type DocumentService interface {
	PutDocumentFlow(ctx context.Context, d *DocumentFlow) error
	DocumentFlow(ctx context.Context, code string) (*DocumentFlow, error)
	DocumentFlows(ctx context.Context) ([]*DocumentFlow, error)
	DeleteDocumentFlow(ctx context.Context, code string) error
	PutMailSetting(ctx context.Context, s *MailSetting) error
	MailSetting(ctx context.Context, documentFlow string) (*MailSetting, error)
	MailSettings(ctx context.Context) ([]*MailSetting, error)
	DeleteMailSetting(ctx context.Context, documentFlow string) error
	// A mail setting with Company or Language set is a variant:
	// PutMailSetting stores it beside the default (ENotFound for an
	// unknown company). MailSettingVariant reads one exactly,
	// MailSettingVariants lists a flow's (all flows' for ""),
	// DeleteMailSettingVariant removes one (EMailSettingNotFound when
	// absent). ChooseMailSetting returns the setting a request of company
	// in language uses, by MailSettingChoices; EMailSettingNotFound when
	// none applies.
	MailSettingVariant(ctx context.Context, documentFlow, company, language string) (*MailSetting, error)
	MailSettingVariants(ctx context.Context, documentFlow string) ([]*MailSetting, error)
	DeleteMailSettingVariant(ctx context.Context, documentFlow, company, language string) error
	ChooseMailSetting(ctx context.Context, documentFlow, company, language string) (*MailSetting, error)
	PutFileNameRule(ctx context.Context, r *FileNameRule) error
	FileNameRule(ctx context.Context, documentFlow string) (*FileNameRule, error)
	FileNameRules(ctx context.Context) ([]*FileNameRule, error)
	DeleteFileNameRule(ctx context.Context, documentFlow string) error
}

// TokenService stores OAuth tokens (encrypted) and pending consents.
type TokenService interface {
	Token(ctx context.Context, key TokenKey) (*Token, error)
	Tokens(ctx context.Context) ([]*Token, error)
	// SaveToken inserts or replaces the token of t's key after a consent,
	// whatever its stored version; t.RowVersion is set to the new version.
	SaveToken(ctx context.Context, t *Token) error
	// UpdateToken writes t only if the stored row version is still
	// t.RowVersion, then increments t.RowVersion; EConflict otherwise (another
	// instance refreshed first: re-read it).
	UpdateToken(ctx context.Context, t *Token) error
	DeleteToken(ctx context.Context, key TokenKey) error
	PutOAuthState(ctx context.Context, s *OAuthState) error
	// TakeOAuthState returns the state and deletes it (single use);
	// EOAuthState when it is unknown, used or expired.
	TakeOAuthState(ctx context.Context, state string) (*OAuthState, error)
}

// MessageService stores accepted messages.
type MessageService interface {
	// CreateMessage stores a's message (ID, MessageID and timestamps set
	// if empty) and its bytes, and enqueues its send job in one
	// transaction. When its IdempotencyKey was already used: with the same
	// RequestHash it loads the existing message into a.Message and returns
	// created=false; with another hash EIdempotencyConflict.
	CreateMessage(ctx context.Context, a *Accepted) (created bool, err error)
	Message(ctx context.Context, id string) (*Message, error)
	Messages(ctx context.Context, f MessageFilter) ([]*Message, error)
	// UpdateMessage writes m's status, attempts, error, next try and sent time.
	UpdateMessage(ctx context.Context, m *Message) error
	PutEML(ctx context.Context, id string, eml []byte) error
	EML(ctx context.Context, id string) ([]byte, error)
}

// ArchiveService stores the metadata of archived documents; the bytes live
// in an archive.Store.
type ArchiveService interface {
	PutArchivedDocument(ctx context.Context, d *ArchivedDocument) error
	ArchivedDocument(ctx context.Context, id string) (*ArchivedDocument, error)
	ArchivedDocuments(ctx context.Context, entityType, entityID string) ([]*ArchivedDocument, error)
}

// APIKeyService stores API keys, hashed.
type APIKeyService interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the key with that hash, EUnauthorized if none or revoked.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	APIKeys(ctx context.Context) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) error
}

// Store is every service of the store together; cmd/envoi wires one value
// implementing it, and each consumer takes the part it needs.
type Store interface {
	CompanyService
	OperatorService
	AuthFlowService
	DocumentService
	TokenService
	MessageService
	ArchiveService
	APIKeyService
	ReportTemplateService
	WebhookService
}

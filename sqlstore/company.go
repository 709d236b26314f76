package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"envoi"
)

// PutCompany inserts or replaces the company of c.Code. Returns
// EInvalidInput naming the wrong field. The signature is stored as
// Options.SanitizeHTML cleans it, and c.SignatureHTML is set to what was
// stored (as PutOperator does).
func (s *Store) PutCompany(ctx context.Context, c *envoi.Company) error {
	if s.sanitize != nil {
		c.SignatureHTML = s.sanitize(c.SignatureHTML)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	defer s.cache.drop()
	now := s.nowUTC()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO companies (code, name, footer_text, logo, logo_type, language, currency, address, signature_html, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (code) DO UPDATE SET
			name = excluded.name, footer_text = excluded.footer_text, logo = excluded.logo,
			logo_type = excluded.logo_type, language = excluded.language, currency = excluded.currency,
			address = excluded.address, signature_html = excluded.signature_html, updated_at = excluded.updated_at`,
		c.Code, c.Name, c.FooterText, nullBytes(c.Logo), c.LogoType, c.Language, c.Currency, c.Address, c.SignatureHTML, s.ts(now))
	if err != nil {
		return fmt.Errorf("sqlstore: put company %q: %w", c.Code, err)
	}
	c.UpdatedAt = now
	return nil
}

const companyColumns = `code, name, footer_text, logo, logo_type, language, currency, address, signature_html, updated_at`

func scanCompany(row interface{ Scan(...any) error }) (*envoi.Company, error) {
	var c envoi.Company
	err := row.Scan(&c.Code, &c.Name, &c.FooterText, &c.Logo, &c.LogoType, &c.Language, &c.Currency, &c.Address, &c.SignatureHTML, scanTime(&c.UpdatedAt))
	return &c, err
}

// Company returns the company of that code; ENotFound if none.
func (s *Store) Company(ctx context.Context, code string) (*envoi.Company, error) {
	return cached(ctx, s, cacheCompany, code, func() (*envoi.Company, error) { return s.readCompany(ctx, code) }, cloneCompany)
}

// readCompany is Company read from the database, past the cache.
func (s *Store) readCompany(ctx context.Context, code string) (*envoi.Company, error) {
	c, err := scanCompany(s.reads().QueryRowContext(ctx, `SELECT `+companyColumns+` FROM companies WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("company", code)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: company %q: %w", code, err)
	}
	return c, nil
}

// Companies returns every company by code.
func (s *Store) Companies(ctx context.Context) ([]*envoi.Company, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+companyColumns+` FROM companies ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: companies: %w", err)
	}
	defer rows.Close()
	var out []*envoi.Company
	for rows.Next() {
		c, err := scanCompany(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: companies: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCompany deletes the company; ENotFound if none.
func (s *Store) DeleteCompany(ctx context.Context, code string) error {
	defer s.cache.drop()
	res, err := s.db.ExecContext(ctx, `DELETE FROM companies WHERE code = $1`, code)
	return affected(res, err, "company", code)
}

// nullBytes stores an empty slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"envoi"
)

// PutAuthFlow inserts or replaces the flow of f.Code with its operators and
// groups, in one transaction. It clears the OAuth fields of a smtp_basic
// flow (envoi.AuthFlow.ClearOAuth), applies the preset, keeps the stored
// client secret and service account key when f's are empty, and validates.
// Returns EInvalidFlowData naming the field: a wrong value, an operator or
// group that does not exist (operators are created first), or an operator
// who would be in two flows, directly or through a group (the details name
// the other flow). Nothing is written when it fails.
//
// A change that re-points the flow drops the stored secrets bound to the
// old place (envoi.Repoint): the client secret and service account key
// unless f gives them again, the flow's tokens and pending consents, and
// the SMTP passwords of its operators bound to another SMTP server; f.Dropped
// then says what was dropped.
func (s *Store) PutAuthFlow(ctx context.Context, f *envoi.AuthFlow) error {
	f.ClearOAuth()
	if err := f.ApplyPreset(); err != nil {
		return err
	}
	f.Operators = uniq(f.Operators)
	f.Groups = uniq(f.Groups)
	if f.ClientSecret != "" || f.ServiceAccountKey != "" {
		if err := s.ensureKeys(ctx); err != nil {
			return err
		}
	}
	now := s.nowUTC()
	f.Dropped = envoi.FlowWarning{}
	var repoint envoi.Repointing
	var droppedPasswords []string
	err := s.configTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAssignments(ctx, tx); err != nil {
			return err
		}
		old, csSet, sakSet, err := storedTarget(ctx, tx, f.Code)
		if err != nil {
			return err
		}
		repoint = envoi.Repoint(old, f)
		f.ClientSecretSet = (csSet && !repoint.ClientSecret) || f.ClientSecret != ""
		f.ServiceAccountKeySet = (sakSet && !repoint.ServiceAccountKey) || f.ServiceAccountKey != ""
		if err := f.Validate(); err != nil {
			return err
		}
		if err := checkAssignments(ctx, tx, f); err != nil {
			return err
		}
		cs, err := s.seal(f.ClientSecret, aad("auth_flows", "client_secret", f.Code))
		if err != nil {
			return err
		}
		sak, err := s.seal(f.ServiceAccountKey, aad("auth_flows", "service_account_key", f.Code))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO auth_flows (code, name, kind, preset, scope, auth_url, token_url, device_url, userinfo_url,
				client_id, client_secret, tenant, redirect_url, grant_type, service_account_key,
				smtp_host, smtp_port, smtp_security, generic_enabled, generic_email,
				max_attachments_mb, rate_per_minute, updated_at, token_auth_method,
				imap_enabled, imap_host, imap_port, imap_security,
				messages_per_day, connections, recipients_per_day, recipients_per_message, transport, api_url)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
				$25, $26, $27, $28, $29, $30, $31, $32, $33, $34)
			ON CONFLICT (code) DO UPDATE SET
				name = excluded.name, kind = excluded.kind, preset = excluded.preset, scope = excluded.scope,
				auth_url = excluded.auth_url, token_url = excluded.token_url, device_url = excluded.device_url,
				userinfo_url = excluded.userinfo_url, client_id = excluded.client_id,
				client_secret = coalesce(excluded.client_secret, auth_flows.client_secret),
				tenant = excluded.tenant, redirect_url = excluded.redirect_url, grant_type = excluded.grant_type,
				service_account_key = coalesce(excluded.service_account_key, auth_flows.service_account_key),
				smtp_host = excluded.smtp_host, smtp_port = excluded.smtp_port, smtp_security = excluded.smtp_security,
				generic_enabled = excluded.generic_enabled, generic_email = excluded.generic_email,
				max_attachments_mb = excluded.max_attachments_mb, rate_per_minute = excluded.rate_per_minute,
				updated_at = excluded.updated_at, token_auth_method = excluded.token_auth_method,
				imap_enabled = excluded.imap_enabled, imap_host = excluded.imap_host, imap_port = excluded.imap_port,
				imap_security = excluded.imap_security,
				messages_per_day = excluded.messages_per_day, connections = excluded.connections,
				recipients_per_day = excluded.recipients_per_day, recipients_per_message = excluded.recipients_per_message,
				transport = excluded.transport, api_url = excluded.api_url,
				token_auth_learned = CASE WHEN auth_flows.token_url = excluded.token_url AND auth_flows.tenant = excluded.tenant
					AND auth_flows.client_id = excluded.client_id AND auth_flows.token_auth_method = excluded.token_auth_method
					THEN auth_flows.token_auth_learned ELSE '' END`,
			f.Code, f.Name, f.Kind, f.Preset, f.Scope, f.AuthURL, f.TokenURL, f.DeviceURL, f.UserinfoURL,
			f.ClientID, cs, f.Tenant, f.RedirectURL, f.Grant, sak,
			f.SMTP.Host, f.SMTP.Port, f.SMTP.Security, f.GenericMailbox.Enabled, f.GenericMailbox.Email,
			f.MaxAttachmentsMB, f.RatePerMinute, s.ts(now), f.TokenAuthMethod,
			f.IMAP.Enabled, f.IMAP.Host, f.IMAP.Port, f.IMAP.Security,
			f.Limits.MessagesPerDay, f.Limits.Connections, f.Limits.RecipientsPerDay, f.Limits.RecipientsPerMessage, f.EffectiveTransport(), f.APIURL)
		if err != nil {
			return fmt.Errorf("sqlstore: put flow %q: %w", f.Code, err)
		}
		for _, q := range []string{`DELETE FROM auth_flow_operators WHERE flow = $1`, `DELETE FROM auth_flow_groups WHERE flow = $1`} {
			if _, err := tx.ExecContext(ctx, q, f.Code); err != nil {
				return fmt.Errorf("sqlstore: put flow %q: %w", f.Code, err)
			}
		}
		for _, o := range f.Operators {
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_flow_operators (operator, flow) VALUES ($1, $2)`, o, f.Code); err != nil {
				if isUniqueViolation(err) {
					return envoi.FieldError(envoi.EInvalidFlowData, "operators", "operator %s is already in another flow", o).WithDetail("operator", o)
				}
				return fmt.Errorf("sqlstore: put flow %q: operator %q: %w", f.Code, o, err)
			}
		}
		for _, g := range f.Groups {
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_flow_groups (group_code, flow) VALUES ($1, $2)`, g, f.Code); err != nil {
				if isUniqueViolation(err) {
					return envoi.FieldError(envoi.EInvalidFlowData, "groups", "group %s is already in another flow", g).WithDetail("group", g)
				}
				return fmt.Errorf("sqlstore: put flow %q: group %q: %w", f.Code, g, err)
			}
		}
		if err := dropRepointed(ctx, tx, f.Code, repoint); err != nil {
			return err
		}
		droppedPasswords, err = bindPasswords(ctx, tx, f)
		return err
	})
	if err != nil {
		return err
	}
	f.UpdatedAt = now
	if w, ok := envoi.DroppedWarning(repoint, droppedPasswords); ok {
		f.Dropped = w
		s.log.Warn("flow re-pointed: stored secrets dropped", "flow", f.Code, "client_secret", repoint.ClientSecret,
			"service_account_key", repoint.ServiceAccountKey, "tokens", repoint.Tokens, "smtp_passwords", droppedPasswords)
	}
	for _, w := range f.Warnings() {
		if w.Code == envoi.WarnInternalAddress {
			s.log.Warn("flow connects to an internal address", "flow", f.Code, "field", w.Field, "address", w.Address)
		}
	}
	return nil
}

// SetTokenAuthLearned records the token_auth_method that "auto" found to
// work for flow (client_secret_basic or client_secret_post), for every
// instance and restart; PutAuthFlow forgets it when the token endpoint,
// tenant, client or method changes. Returns ENotFound for an unknown flow.
func (s *Store) SetTokenAuthLearned(ctx context.Context, flow, method string) error {
	return s.configTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_flows SET token_auth_learned = $2 WHERE code = $1`, flow, method)
		return affected(res, err, "authentication flow", flow)
	})
}

// storedTarget reads, inside the transaction that writes the flow of that
// code, where its stored secrets go (nil for a new flow) and which are set.
func storedTarget(ctx context.Context, tx *sql.Tx, code string) (old *envoi.AuthFlow, csSet, sakSet bool, err error) {
	old = &envoi.AuthFlow{Code: code}
	err = tx.QueryRowContext(ctx, `
		SELECT client_secret IS NOT NULL, service_account_key IS NOT NULL, token_url, client_id, tenant,
			smtp_host, smtp_port, smtp_security, transport, api_url
		FROM auth_flows WHERE code = $1`, code).Scan(&csSet, &sakSet, &old.TokenURL, &old.ClientID, &old.Tenant,
		&old.SMTP.Host, &old.SMTP.Port, &old.SMTP.Security, &old.Transport, &old.APIURL)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("sqlstore: put flow %q: %w", code, err)
	}
	return old, csSet, sakSet, nil
}

// dropRepointed drops the flow's stored OAuth secrets and tokens that r
// says no longer go where they were given, with the pending consents
// started for the old provider.
func dropRepointed(ctx context.Context, tx *sql.Tx, code string, r envoi.Repointing) error {
	var qs []string
	if r.ClientSecret {
		qs = append(qs, `UPDATE auth_flows SET client_secret = NULL WHERE code = $1`)
	}
	if r.ServiceAccountKey {
		qs = append(qs, `UPDATE auth_flows SET service_account_key = NULL WHERE code = $1`)
	}
	if r.Tokens {
		qs = append(qs, `DELETE FROM tokens WHERE flow = $1`, `DELETE FROM oauth_states WHERE flow = $1`)
	}
	for _, q := range qs {
		if _, err := tx.ExecContext(ctx, q, code); err != nil {
			return fmt.Errorf("sqlstore: put flow %q: drop re-pointed secrets: %w", code, err)
		}
	}
	return nil
}

// bindPasswords binds the SMTP passwords of f's operators (directly or
// through a group) to f's SMTP server: a password bound to no server yet
// is bound to it, one bound to another server is dropped. It returns the
// operators whose password was dropped, by code.
func bindPasswords(ctx context.Context, tx *sql.Tx, f *envoi.AuthFlow) ([]string, error) {
	target := f.SMTP.Target()
	rows, err := tx.QueryContext(ctx, `
		SELECT code, smtp_password_target FROM operators
		WHERE smtp_password IS NOT NULL AND smtp_password_target <> $2
			AND (code IN (SELECT operator FROM auth_flow_operators WHERE flow = $1)
				OR group_code IN (SELECT group_code FROM auth_flow_groups WHERE flow = $1))
		ORDER BY code`, f.Code, target)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: put flow %q: bind passwords: %w", f.Code, err)
	}
	bound := map[string]string{}
	var codes []string
	for rows.Next() {
		var code, was string
		if err := rows.Scan(&code, &was); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: put flow %q: bind passwords: %w", f.Code, err)
		}
		bound[code] = was
		codes = append(codes, code)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: put flow %q: bind passwords: %w", f.Code, err)
	}
	var dropped []string
	for _, code := range codes {
		d, err := bindPassword(ctx, tx, code, bound[code], target)
		if err != nil {
			return nil, err
		}
		if d {
			dropped = append(dropped, code)
		}
	}
	return dropped, nil
}

// bindPassword binds the stored SMTP password of operator code, bound to
// was, to the SMTP server target of the flow the operator is now in: bound
// to none yet (was ""), it is bound to target; bound to another server,
// it is dropped (dropped true).
func bindPassword(ctx context.Context, tx *sql.Tx, code, was, target string) (dropped bool, err error) {
	switch was {
	case target:
		return false, nil
	case "":
		_, err = tx.ExecContext(ctx, `UPDATE operators SET smtp_password_target = $2 WHERE code = $1`, code, target)
	default:
		dropped = true
		_, err = tx.ExecContext(ctx, `UPDATE operators SET smtp_password = NULL, smtp_password_target = '' WHERE code = $1`, code)
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: bind the SMTP password of %q: %w", code, err)
	}
	return dropped, nil
}

// checkAssignments enforces, inside the transaction that writes f, that
// f's operators and groups exist and that no operator would end up in two
// flows: directly in one and through their group in another.
func checkAssignments(ctx context.Context, tx *sql.Tx, f *envoi.AuthFlow) error {
	conflict := func(field, format string, args ...any) func(other string) error {
		return func(other string) error {
			return envoi.FieldError(envoi.EInvalidFlowData, field, format, append(args, other)...).WithDetail("flow", other)
		}
	}
	for _, o := range f.Operators {
		var group string
		err := tx.QueryRowContext(ctx, `SELECT coalesce(group_code, '') FROM operators WHERE code = $1`, o).Scan(&group)
		if errors.Is(err, sql.ErrNoRows) {
			return envoi.FieldError(envoi.EInvalidFlowData, "operators", "operator %s does not exist: create the operator first", o).WithDetail("operator", o)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: check operator %q: %w", o, err)
		}
		direct, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_operators WHERE operator = $1`, o)
		if err != nil {
			return err
		}
		if direct != "" && direct != f.Code {
			return conflict("operators", "operator %s is already in flow %s", o)(direct)
		}
		if group == "" || slices.Contains(f.Groups, group) {
			continue // the group's own assignment is checked below
		}
		viaGroup, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_groups WHERE group_code = $1`, group)
		if err != nil {
			return err
		}
		if viaGroup != "" && viaGroup != f.Code {
			return conflict("operators", "operator %s is in group %s, which is assigned to flow %s", o, group)(viaGroup)
		}
	}
	for _, g := range f.Groups {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM operator_groups WHERE code = $1`, g).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: check group %q: %w", g, err)
		}
		if n == 0 {
			return envoi.FieldError(envoi.EInvalidFlowData, "groups", "group %s does not exist: create the group (or an operator in it) first", g).WithDetail("group", g)
		}
		flow, err := flowOf(ctx, tx, `SELECT flow FROM auth_flow_groups WHERE group_code = $1`, g)
		if err != nil {
			return err
		}
		if flow != "" && flow != f.Code {
			return conflict("groups", "group %s is already in flow %s", g)(flow)
		}
		var member, other string
		err = tx.QueryRowContext(ctx, `
			SELECT o.code, a.flow FROM operators o JOIN auth_flow_operators a ON a.operator = o.code
			WHERE o.group_code = $1 AND a.flow <> $2 ORDER BY o.code LIMIT 1`, g, f.Code).Scan(&member, &other)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: check group %q: %w", g, err)
		}
		if member != "" {
			return conflict("groups", "operator %s of group %s is already in flow %s", member, g)(other)
		}
	}
	return nil
}

const authFlowColumns = `code, name, kind, preset, scope, auth_url, token_url, device_url, userinfo_url,
	client_id, client_secret, tenant, redirect_url, grant_type, service_account_key,
	smtp_host, smtp_port, smtp_security, generic_enabled, generic_email,
	max_attachments_mb, rate_per_minute, updated_at, token_auth_method, token_auth_learned,
	imap_enabled, imap_host, imap_port, imap_security,
	messages_per_day, connections, recipients_per_day, recipients_per_message, transport, api_url`

// scanAuthFlow scans a row; the returned function decrypts the secrets,
// to be called once the row's connection is released (see openAll).
func (s *Store) scanAuthFlow(row interface{ Scan(...any) error }) (*envoi.AuthFlow, func() error, error) {
	var f envoi.AuthFlow
	var cs, sak []byte
	err := row.Scan(&f.Code, &f.Name, &f.Kind, &f.Preset, &f.Scope, &f.AuthURL, &f.TokenURL, &f.DeviceURL, &f.UserinfoURL,
		&f.ClientID, &cs, &f.Tenant, &f.RedirectURL, &f.Grant, &sak,
		&f.SMTP.Host, &f.SMTP.Port, &f.SMTP.Security, &f.GenericMailbox.Enabled, &f.GenericMailbox.Email,
		&f.MaxAttachmentsMB, &f.RatePerMinute, scanTime(&f.UpdatedAt), &f.TokenAuthMethod, &f.TokenAuthLearned,
		&f.IMAP.Enabled, &f.IMAP.Host, &f.IMAP.Port, &f.IMAP.Security,
		&f.Limits.MessagesPerDay, &f.Limits.Connections, &f.Limits.RecipientsPerDay, &f.Limits.RecipientsPerMessage, &f.Transport, &f.APIURL)
	if err != nil {
		return nil, nil, err
	}
	f.Limits.MessagesPerMinute = f.RatePerMinute
	f.ClientSecretSet, f.ServiceAccountKeySet = cs != nil, sak != nil
	f.Operators, f.Groups = []string{}, []string{}
	return &f, func() (err error) {
		if f.ClientSecret, err = s.open(cs, aad("auth_flows", "client_secret", f.Code)); err != nil {
			return err
		}
		f.ServiceAccountKey, err = s.open(sak, aad("auth_flows", "service_account_key", f.Code))
		return err
	}, nil
}

// AuthFlow returns the flow of that code with its operators and groups and
// its secrets decrypted; ENotFound if none.
func (s *Store) AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error) {
	return s.authFlowAt(ctx, s.configVersion(ctx), code)
}

// authFlowAt is AuthFlow through the cache at that version.
func (s *Store) authFlowAt(ctx context.Context, version int64, code string) (*envoi.AuthFlow, error) {
	return cachedAt(s, version, cacheAuthFlow, code, func() (*envoi.AuthFlow, error) { return s.readAuthFlow(ctx, code) }, cloneAuthFlow)
}

// readAuthFlow is AuthFlow read from the database, past the cache.
func (s *Store) readAuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error) {
	f, open, err := s.scanAuthFlow(s.reads().QueryRowContext(ctx, `SELECT `+authFlowColumns+` FROM auth_flows WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("authentication flow", code)
	}
	if err == nil {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: flow %q: %w", code, err)
	}
	if err := s.assignments(ctx, map[string]*envoi.AuthFlow{code: f}, code); err != nil {
		return nil, err
	}
	return f, nil
}

// AuthFlows returns every flow by code, as AuthFlow does.
func (s *Store) AuthFlows(ctx context.Context) ([]*envoi.AuthFlow, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+authFlowColumns+` FROM auth_flows ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: flows: %w", err)
	}
	var out []*envoi.AuthFlow
	var opens []func() error
	byCode := map[string]*envoi.AuthFlow{}
	for rows.Next() {
		f, open, err := s.scanAuthFlow(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: flows: %w", err)
		}
		out, opens = append(out, f), append(opens, open)
		byCode[f.Code] = f
	}
	if err := openAll(rows, opens); err != nil {
		return nil, fmt.Errorf("sqlstore: flows: %w", err)
	}
	if err := s.assignments(ctx, byCode, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// assignments fills the operators and groups of flows (of the one flow
// code, or of all when code is "").
func (s *Store) assignments(ctx context.Context, flows map[string]*envoi.AuthFlow, code string) error {
	for _, q := range []struct {
		query string
		list  func(f *envoi.AuthFlow) *[]string
	}{
		{`SELECT flow, operator FROM auth_flow_operators`, func(f *envoi.AuthFlow) *[]string { return &f.Operators }},
		{`SELECT flow, group_code FROM auth_flow_groups`, func(f *envoi.AuthFlow) *[]string { return &f.Groups }},
	} {
		query, a := q.query, []any{}
		if code != "" {
			query += ` WHERE flow = $1`
			a = append(a, code)
		}
		rows, err := s.reads().QueryContext(ctx, query+` ORDER BY 2`, a...)
		if err != nil {
			return fmt.Errorf("sqlstore: flow assignments: %w", err)
		}
		for rows.Next() {
			var flow, member string
			if err := rows.Scan(&flow, &member); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: flow assignments: %w", err)
			}
			if f := flows[flow]; f != nil {
				l := q.list(f)
				*l = append(*l, member)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: flow assignments: %w", err)
		}
	}
	return nil
}

// DeleteAuthFlow deletes the flow with its assignments, tokens and pending
// consents; ENotFound if none.
func (s *Store) DeleteAuthFlow(ctx context.Context, code string) error {
	return s.configTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE flow = $1`, code); err != nil {
			return fmt.Errorf("sqlstore: delete flow %q: %w", code, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_flows WHERE code = $1`, code)
		return affected(res, err, "authentication flow", code)
	})
}

// FlowForOperator returns the one flow the operator is assigned to,
// directly or through their group. Returns ENotFound for an unknown
// operator and ENoFlowForOperator for an operator in no flow.
func (s *Store) FlowForOperator(ctx context.Context, operator string) (*envoi.AuthFlow, error) {
	version := s.configVersion(ctx)
	flow, err := cachedAt(s, version, cacheFlowOf, operator, func() (string, error) { return s.flowCodeOf(ctx, operator) }, sameString)
	if err != nil {
		return nil, err
	}
	return s.authFlowAt(ctx, version, flow)
}

// flowCodeOf returns the code of the operator's flow, with
// FlowForOperator's errors.
func (s *Store) flowCodeOf(ctx context.Context, operator string) (string, error) {
	flow, err := flowOf(ctx, s.reads(), `
		SELECT a.flow FROM auth_flow_operators a WHERE a.operator = $1
		UNION ALL
		SELECT g.flow FROM operators o JOIN auth_flow_groups g ON g.group_code = o.group_code WHERE o.code = $1
		LIMIT 1`, operator)
	if err != nil {
		return "", err
	}
	if flow == "" {
		var n int
		if err := s.reads().QueryRowContext(ctx, `SELECT count(*) FROM operators WHERE code = $1`, operator).Scan(&n); err != nil {
			return "", fmt.Errorf("sqlstore: flow for %q: %w", operator, err)
		}
		if n == 0 {
			return "", notFound("operator", operator).WithDetail("operator", operator)
		}
		return "", envoi.Errorf(envoi.ENoFlowForOperator, "operator %s is in no authentication flow", operator).WithDetail("operator", operator)
	}
	return flow, nil
}

// uniq returns l without repeats, in order; never nil.
func uniq(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

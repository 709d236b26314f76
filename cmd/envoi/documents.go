package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"

	"envoi"
)

// fileNames resolves the name a document of a document flow gets when the
// ERP prints or exports it: file-names resolve FLOW KEY=VALUE...
func (p *Program) fileNames(ctx context.Context, args []string) error {
	const synopsis = "file-names resolve FLOW [--company C] [--operator O] [--entity TYPE:ID] [--extension EXT] KEY=VALUE..."
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return fmt.Errorf("%w: file-names needs a subcommand: %s", errUsage, synopsis)
		}
		args = []string{"resolve", "--help"}
	}
	if args[0] != "resolve" {
		return fmt.Errorf("%w: unknown file-names subcommand %q (resolve)", errUsage, args[0])
	}
	var company, operator, entity, ext string
	fs := p.newFlagSet("file-names resolve", synopsis)
	resolve := storageFlags(fs, p.Getenv)
	fs.StringVar(&company, "company", "", "company code (must exist, as in a send)")
	fs.StringVar(&operator, "operator", "", "operator code (must exist, as in a send)")
	fs.StringVar(&entity, "entity", "", "business entity TYPE:ID: names the document when the flow has no rule")
	fs.StringVar(&ext, "extension", "", "the document's extension (default pdf)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: file-names resolve needs the document flow: %s", errUsage, synopsis)
	}
	req := &envoi.FileNameRequest{DocumentFlow: pos[0], Company: company, Operator: operator, Extension: ext}
	if req.Context, err = keywordValues(pos[1:]); err != nil {
		return err
	}
	if entity != "" {
		if req.Entity, err = parseEntity(entity); err != nil {
			return err
		}
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, newLogger(p.Stderr, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		return err
	}
	defer app.Close()
	name, _, err := app.Composer.FileName(ctx, req)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(p.Stdout, name)
	return nil
}

// archiveCmd archives a document printed or exported by the ERP with its
// business entity: archive add --flow F --entity-type T --entity-id I FILE.
func (p *Program) archiveCmd(ctx context.Context, args []string) error {
	const synopsis = "archive add --flow F --entity-type T --entity-id I [--set KEY=VALUE]... [--content-type T] [--filename NAME] FILE"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return fmt.Errorf("%w: archive needs a subcommand: %s", errUsage, synopsis)
		}
		args = []string{"add", "--help"}
	}
	if args[0] != "add" {
		return fmt.Errorf("%w: unknown archive subcommand %q (add)", errUsage, args[0])
	}
	var req envoi.ArchiveRequest
	var sets listFlag
	fs := p.newFlagSet("archive add", synopsis)
	resolve := storageFlags(fs, p.Getenv)
	fs.StringVar(&req.DocumentFlow, "flow", "", "document flow code (e.g. BL): its file-name rule names and types the document")
	fs.StringVar(&req.Entity.Type, "entity-type", "", "type of the business entity the document belongs to (e.g. BL)")
	fs.StringVar(&req.Entity.ID, "entity-id", "", "id of the business entity (e.g. 12345)")
	fs.Var(&sets, "set", "keyword value KEY=VALUE for the file-name pattern (repeatable)")
	fs.StringVar(&req.ContentType, "content-type", "", "the document's type (default: from the file's extension, else application/pdf)")
	fs.StringVar(&req.Filename, "filename", "", "the name when the flow's rule has no pattern (default: the file's name)")
	fs.StringVar(&req.Company, "company", "", "company code (must exist)")
	fs.StringVar(&req.Operator, "operator", "", "operator code (must exist)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return fmt.Errorf("%w: archive add takes one FILE: %s", errUsage, synopsis)
	case req.DocumentFlow == "":
		return fmt.Errorf("%w: archive add needs --flow", errUsage)
	case req.Entity.Type == "" || req.Entity.ID == "":
		return fmt.Errorf("%w: archive add needs --entity-type and --entity-id", errUsage)
	}
	if req.Context, err = keywordValues(sets); err != nil {
		return err
	}
	path := pos[0]
	if req.Content, err = os.ReadFile(path); err != nil {
		return fmt.Errorf("archive add: %w", err)
	}
	if req.Filename == "" {
		req.Filename = filepath.Base(path)
	}
	if req.ContentType == "" {
		req.ContentType = mime.TypeByExtension(strings.ToLower(filepath.Ext(path)))
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, newLogger(p.Stderr, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		return err
	}
	defer app.Close()
	d, err := app.Recorder.Archive(ctx, &req)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(p.Stdout, "archived %s as %s for %s %s (id %s, file type %q, %d bytes, sha256 %s)\n",
		path, d.FileName, d.EntityType, d.EntityID, d.ID, d.FileType, d.Size, d.SHA256)
	return nil
}

// parseInterleaved parses args with fs, flags and positional arguments in
// any order ("BL ID_BL=1 --data-dir d"), and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// keywordValues reads KEY=VALUE arguments.
func keywordValues(kv []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q is not KEY=VALUE", errUsage, s)
		}
		out[k] = v
	}
	return out, nil
}

// parseEntity reads TYPE:ID.
func parseEntity(s string) (*envoi.Entity, error) {
	t, id, ok := strings.Cut(s, ":")
	if !ok || t == "" || id == "" {
		return nil, fmt.Errorf("%w: --entity %q is not TYPE:ID", errUsage, s)
	}
	return &envoi.Entity{Type: t, ID: id}, nil
}

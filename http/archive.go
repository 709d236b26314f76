package http

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"

	"envoi"
)

// ArchiveFiles reads archived bytes, verifying their checksum (the archive
// package implements it).
type ArchiveFiles interface {
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// Archiver archives documents produced outside mail (archive.Recorder
// implements it).
type Archiver interface {
	Archive(ctx context.Context, req *envoi.ArchiveRequest) (*envoi.ArchivedDocument, error)
}

// postArchive archives a document printed or exported by the ERP with its
// business entity: 201 with the archive entry, named and typed by the
// document flow's file-name rule.
func (s *Server) postArchive(w http.ResponseWriter, r *http.Request) {
	var in envoi.ArchiveRequest
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Storing the document takes a turn of the gate in front of
	// composing.
	done, err := s.admitWork(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.Archiver.Archive(r.Context(), &in)
	done()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/archive/"+d.ID)
	writeJSON(w, http.StatusCreated, d)
}

func (s *Server) listArchive(w http.ResponseWriter, r *http.Request) {
	t, id := r.URL.Query().Get("entity_type"), r.URL.Query().Get("entity_id")
	if t == "" || id == "" {
		s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "entity_type", "entity_type and entity_id are both required"))
		return
	}
	list, err := s.Store.ArchivedDocuments(r.Context(), t, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []*envoi.ArchivedDocument{}
	}
	writeJSON(w, http.StatusOK, list)
}

// downloadArchive returns an archived document's bytes. The checksum is
// verified while reading: the whole file is read and checked before the
// first byte is sent, so a damaged file is an error, not a wrong download.
func (s *Server) downloadArchive(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.ArchivedDocument(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc, err := s.Archive.Open(r.Context(), d.SHA256)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.FileName}))
	w.Header().Set("Digest", "sha-256="+d.SHA256)
	_, _ = w.Write(b)
}

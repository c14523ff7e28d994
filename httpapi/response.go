package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"tripcast"
	"tripcast/serve"
)

// This file is the one builder of answers: JSON bodies, errors and the
// table from error codes to statuses. Handlers never write headers or
// error bodies themselves.

// statusOf is THE table from error codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case tripcast.EINVALID:
		return http.StatusBadRequest
	case tripcast.ENOTFOUND:
		return http.StatusNotFound
	case tripcast.ECONFLICT:
		return http.StatusConflict
	case tripcast.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case tripcast.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

var (
	jsonType = []string{"application/json"}
	noSniff  = []string{"nosniff"}
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// maxPooled is the largest buffer kept for reuse: a big batch's buffer is
// left to the garbage collector rather than held forever.
const maxPooled = 1 << 20

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		b.Reset()
		bufPool.Put(b)
	}
}

// appendError appends {"error":...,"field":...[,"index":i]} for err,
// logging internal errors in full.
func (s *Server) appendError(dst []byte, r *http.Request, err error, index int) []byte {
	code := tripcast.ErrorCode(err)
	if code == tripcast.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	dst = append(dst, `{"error":`...)
	dst = serve.AppendString(dst, tripcast.ErrorMessage(err))
	if f := tripcast.ErrorField(err); f != "" {
		dst = append(dst, `,"field":`...)
		dst = serve.AppendString(dst, f)
	}
	if index >= 0 {
		dst = append(dst, `,"index":`...)
		dst = strconv.AppendInt(dst, int64(index), 10)
	}
	return append(dst, '}')
}

// writeError answers err with the status of its code.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorStatus(w, r, statusOf(tripcast.ErrorCode(err)), err)
}

// writeErrorStatus answers err with a status the code table does not give
// (405, 413, 415, 429): the body is the same as writeError's.
func (s *Server) writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	s.writeJSON(w, status, s.appendError(nil, r, err, -1))
}

// writeJSON answers body, already JSON.
func (s *Server) writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	w.Write(body)
}

// writeValue answers v encoded with encoding/json (for the small answers
// off the prediction path).
func (s *Server) writeValue(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, &tripcast.Error{Code: tripcast.EINTERNAL, Message: "internal error", Err: err})
		return
	}
	s.writeJSON(w, status, body)
}

// readBody reads the request body into buf, up to limit bytes. It answers
// 415 (and returns false) when the body is encoded (gzip…), 413 beyond the
// limit, 400 on a read error.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, limit int64) bool {
	if enc := bodyEncoding(r); enc != "" {
		// RFC 7694: tell the client which encodings are accepted.
		w.Header().Set("Accept-Encoding", "identity")
		s.writeErrorStatus(w, r, http.StatusUnsupportedMediaType, tripcast.FieldError("Content-Encoding",
			"request bodies encoded with %q are not accepted: send the JSON uncompressed (no Content-Encoding, or identity)", enc))
		return false
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeErrorStatus(w, r, http.StatusRequestEntityTooLarge,
			tripcast.FieldError("body", "request body is over the limit of %d bytes", limit))
		return false
	}
	s.writeError(w, r, &tripcast.Error{Code: tripcast.EINVALID, Field: "body", Message: "cannot read request body", Err: err})
	return false
}

// bodyEncoding returns the request's Content-Encoding other than identity
// ("" when the body is plain).
func bodyEncoding(r *http.Request) string {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "identity") {
				return enc
			}
		}
	}
	return ""
}

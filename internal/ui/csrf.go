package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// sessionCookie holds a browser's session id: random, HttpOnly,
// SameSite=Strict. A form's CSRF token is the HMAC of it under the
// server's key, so a page from elsewhere can neither read nor forge it.
const sessionCookie = "deployer_ui_session"

// csrfField is the form field (and csrfHeader the header) that carries
// the token on a POST.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

type sessionKey struct{}

// sessionBytes is the size of a session id.
const sessionBytes = 32

// session returns the request's session id, or a new one (fresh) when
// it carries none that this server could have made.
func (s *Server) session(r *http.Request) (id string, fresh bool) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil && len(b) == sessionBytes {
			return c.Value, false
		}
	}
	b := make([]byte, sessionBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return base64.RawURLEncoding.EncodeToString(b), true
}

// token is the CSRF token of a session.
func (s *Server) token(session string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("deployer-ui csrf\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrf is the token of the request's session, for its page's forms.
func (s *Server) csrf(ctx context.Context) string {
	session, _ := ctx.Value(sessionKey{}).(string)
	return s.token(session)
}

// validToken reports whether r carries its session's token, in the
// header or the form.
func (s *Server) validToken(session string, w http.ResponseWriter, r *http.Request) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		// Forms are small: a body past 64 KiB is not one of ours.
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		got = r.PostFormValue(csrfField)
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.token(session)))
}

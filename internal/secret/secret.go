// Package secret keeps passwords and keys out of what tripcast prints: it
// masks the secrets in a backend URL or DSN (Mask), lists them (Values) so
// that any text can be scrubbed of them (Scrub), and wraps errors and log
// handlers so that messages from drivers, which may quote a URL or a DSN,
// are scrubbed too.
package secret

import (
	"net/url"
	"regexp"
	"strings"
)

// Masked replaces every secret in masked output.
const Masked = "xxxxx"

// secretParams are the query parameter names (matched as substrings, case
// insensitive) whose values are secrets.
var secretParams = []string{"secret", "password", "passwd", "pwd", "token", "key", "credential", "signature", "auth"}

// dsnPassword matches the password of a PostgreSQL key=value DSN
// (password=x, password = 'x y').
var dsnPassword = regexp.MustCompile(`(?i)\b(password|passwd|pwd|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)`)

// userinfoRE matches "//user:password@" in text that does not parse as a URL.
var userinfoRE = regexp.MustCompile(`(//[^/@:\s]*):([^/@\s]*)@`)

// isSecretParam reports whether a query parameter's value is a secret.
func isSecretParam(name string) bool {
	name = strings.ToLower(name)
	for _, p := range secretParams {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// tokenSchemes are the URL schemes whose user name alone is a credential
// (nats://TOKEN@host).
var tokenSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// Mask returns s, a backend setting (a URL, several URLs separated by
// commas, or a key=value DSN), with every password in user info, every
// secret-looking query parameter, every DSN password and every NATS token
// replaced by Masked. Other text is returned as it is.
func Mask(s string) string {
	if strings.Contains(s, ",") && strings.Contains(s, "://") {
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = maskOne(p)
		}
		return strings.Join(parts, ",")
	}
	return maskOne(s)
}

func maskOne(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		s = dsnPassword.ReplaceAllString(s, "${1}${2}"+Masked)
		return userinfoRE.ReplaceAllString(s, "${1}:"+Masked+"@")
	}
	masked := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Masked)
			masked = true
		} else if tokenSchemes[u.Scheme] && u.User.Username() != "" {
			u.User = url.User(Masked)
			masked = true
		}
	}
	q := u.Query()
	for k := range q {
		if isSecretParam(k) {
			q.Set(k, Masked)
			masked = true
		}
	}
	if !masked {
		return s
	}
	if u.RawQuery != "" {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Values returns the secrets Mask hides in s, each also in its escaped
// forms, for Scrub.
func Values(s string) []string {
	var out []string
	add := func(v string) {
		if v == "" || v == Masked {
			return
		}
		out = append(out, v)
		for _, e := range []string{url.QueryEscape(v), url.PathEscape(v), url.UserPassword("", v).String()[1:]} {
			if e != v && e != "" {
				out = append(out, e)
			}
		}
	}
	for _, m := range dsnPassword.FindAllStringSubmatch(s, -1) {
		add(strings.Trim(m[3], "'"))
	}
	for _, m := range userinfoRE.FindAllStringSubmatch(s, -1) {
		add(m[2])
		if pw, err := url.PathUnescape(m[2]); err == nil {
			add(pw)
		}
	}
	for _, p := range strings.Split(s, ",") {
		u, err := url.Parse(p)
		if err != nil || u.Scheme == "" {
			continue
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok {
				add(pw)
			} else if tokenSchemes[u.Scheme] {
				add(u.User.Username())
			}
		}
		for k, vs := range u.Query() {
			if isSecretParam(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	return out
}

// Scrub returns s with every one of secrets replaced by Masked.
func Scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Masked)
		}
	}
	return s
}

// scrubbed is an error whose message is scrubbed of secrets; errors.Is and
// errors.As still see the error it wraps.
type scrubbed struct {
	err     error
	secrets []string
}

func (e *scrubbed) Error() string { return Scrub(e.err.Error(), e.secrets) }
func (e *scrubbed) Unwrap() error { return e.err }

// Error returns err with its message scrubbed of secrets (nil for nil). Wrap
// the errors of drivers whose messages may quote a URL or a DSN.
func Error(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	return &scrubbed{err: err, secrets: secrets}
}

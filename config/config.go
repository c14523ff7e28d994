// Package config holds tripcast's typed configuration: defaults, then an
// optional JSON config file, then TRIPCAST_* environment variables, then
// command-line flags (applied by the caller), each overriding the last.
package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"tripcast"
	"tripcast/internal/secret"
)

// Config is the effective configuration of one tripcast process. Each field's
// `env` tag names its environment variable and its `json` tag its key in the
// config file and its flag name (with "_" read as "-").
type Config struct {
	DataDir   string `json:"data_dir" env:"TRIPCAST_DATA_DIR" help:"folder that holds everything the embedded defaults write"`
	Blob      string `json:"blob" env:"TRIPCAST_BLOB" help:"object store URL: file:///path (default file://<data-dir>/blobs) or s3://bucket?endpoint=...&region=..."`
	DB        string `json:"db" env:"TRIPCAST_DB" help:"metadata database URL: sqlite:///path/file.db (default sqlite://<data-dir>/tripcast.db) or postgres://..."`
	Stream    string `json:"stream" env:"TRIPCAST_STREAM" help:"ride event stream URL: embedded, nats://[user:password@]host:4222 or kinesis://?region=...&endpoint=..."`
	Listen    string `json:"listen" env:"TRIPCAST_LISTEN" help:"HTTP listen address"`
	ModelName string `json:"model_name" env:"TRIPCAST_MODEL_NAME" help:"registered model name"`
	LogLevel  string `json:"log_level" env:"TRIPCAST_LOG_LEVEL" help:"log level: debug, info, warn or error"`
	LogFormat string `json:"log_format" env:"TRIPCAST_LOG_FORMAT" help:"log format: text or json"`
	// CompactEvery is a Go duration ("10m"); "0" turns compaction off.
	CompactEvery string `json:"compact_every" env:"TRIPCAST_COMPACT_EVERY" help:"how often serving processes merge the parquet prediction log's finished hours into one file each (0: never)"`
	// PredictionSinks: "parquet" (default) or "parquet,objects".
	PredictionSinks string `json:"prediction_sinks" env:"TRIPCAST_PREDICTION_SINKS" help:"prediction logs in the blob store: parquet, or parquet,objects to also write one JSON object per prediction (the seed's layout; slow and costly on S3)"`
	// SpoolSyncEvery is a Go duration ("1s"): how often the prediction
	// spool is fsynced (what a machine crash may lose; a process crash
	// loses nothing).
	SpoolSyncEvery string `json:"spool_sync_every" env:"TRIPCAST_SPOOL_SYNC_EVERY" help:"how often the HTTP prediction spool (<data-dir>/spool) is fsynced: the most a machine crash can lose (a killed process loses nothing)"`
	// SpoolMaxMB bounds the prediction spool on disk, in MiB.
	SpoolMaxMB string `json:"spool_max_mb" env:"TRIPCAST_SPOOL_MAX_MB" help:"most MiB of predictions the spool holds while the prediction log cannot be written; beyond it the HTTP API answers 503"`
	// NATSUser and NATSPassword are the credentials the embedded NATS
	// server's listener (--nats-listen) requires.
	NATSUser     string `json:"nats_user" env:"TRIPCAST_NATS_USER" help:"user name NATS clients give the embedded server's --nats-listen port"`
	NATSPassword string `json:"nats_password" env:"TRIPCAST_NATS_PASSWORD" secret:"true" help:"password NATS clients give the embedded server's --nats-listen port (required, and generated when empty, unless it listens on loopback only)"`

	// src names where each setting came from, by json key: "default",
	// "file PATH", "env NAME" or "flag --name".
	src map[string]string
	// compactEvery, spoolSync, spoolMaxMB and monitorWindow are the
	// settings parsed by Finish.
	compactEvery  time.Duration
	spoolSync     time.Duration
	spoolMaxMB    int64
	monitorWindow time.Duration
	// MonitorWindow is a Go duration ("1h"); "0" turns scheduled reports off.
	MonitorWindow string `json:"monitor_window" env:"TRIPCAST_MONITOR_WINDOW" help:"serving processes report each finished window of this length of the prediction log against the champion's reference (0: never)"`
	// AlertRules: see alert.ParseRules.
	AlertRules string `json:"alert_rules" env:"TRIPCAST_ALERT_RULES" help:"monitoring alert rules: dataset_drift, prediction_drift, rmse_change=X, missing=Y, dead_letters=Z, comma-separated"`
	// AlertWebhooks: comma-separated URLs alerts are POSTed to.
	AlertWebhooks string `json:"alert_webhooks" env:"TRIPCAST_ALERT_WEBHOOKS" help:"comma-separated webhook URLs monitoring alerts are POSTed to as JSON (Slack-compatible text field)"`
}

// Default returns the defaults: everything embedded under ./tripcast-data.
func Default() Config {
	return Config{
		DataDir:         "./tripcast-data",
		Stream:          "embedded",
		Listen:          "127.0.0.1:8080",
		ModelName:       "ride_duration_prediction_model",
		LogLevel:        "info",
		LogFormat:       "text",
		CompactEvery:    "10m",
		PredictionSinks: "parquet",
		SpoolSyncEvery:  "1s",
		SpoolMaxMB:      "1024",
		NATSUser:        "tripcast",
		MonitorWindow:   "1h",
		AlertRules:      "dataset_drift,prediction_drift,rmse_change=0.2,missing=0.05,dead_letters=0.01",
	}
}

// Field describes one settable fields of Config, in declaration order.
type Field struct {
	Key    string // json key, e.g. "data_dir"
	Flag   string // flag name, e.g. "data-dir"
	Env    string // environment variable, e.g. "TRIPCAST_DATA_DIR"
	Help   string
	Secret bool // the whole value is a secret, masked when printed
	index  int  // in Config's fields
}

// Fields returns the settable fields of Config.
func Fields() []Field {
	t := reflect.TypeOf(Config{})
	out := make([]Field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("json")
		if key == "" {
			continue
		}
		out = append(out, Field{Key: key, Flag: strings.ReplaceAll(key, "_", "-"), Env: f.Tag.Get("env"),
			Help: f.Tag.Get("help"), Secret: f.Tag.Get("secret") == "true", index: i})
	}
	return out
}

// field returns the field with the given json key.
func field(key string) (Field, bool) {
	for _, f := range Fields() {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Set sets the field with the given json key. It returns an error naming the
// key when there is no such field.
func (c *Config) Set(key, value string) error {
	f, ok := field(key)
	if !ok {
		return fmt.Errorf("config: unknown setting %q", key)
	}
	reflect.ValueOf(c).Elem().Field(f.index).SetString(value)
	return nil
}

// SetFrom sets the field with the given json key and records where the
// value came from ("file PATH", "env NAME", "flag --name"), for errors.
func (c *Config) SetFrom(key, value, source string) error {
	if err := c.Set(key, value); err != nil {
		return err
	}
	if c.src == nil {
		c.src = make(map[string]string)
	}
	c.src[key] = source
	return nil
}

// Source returns where the setting with the given json key came from:
// "default" unless SetFrom recorded a source.
func (c *Config) Source(key string) string {
	if s, ok := c.src[key]; ok {
		return s
	}
	return "default"
}

// Get returns the value of the field with the given json key.
func (c *Config) Get(key string) string {
	f, ok := field(key)
	if !ok {
		return ""
	}
	return reflect.ValueOf(c).Elem().Field(f.index).String()
}

// Invalid returns the EINVALID error for a bad value of the setting key: it
// names the setting, its (masked) value and where it came from.
func (c *Config) Invalid(key, format string, args ...any) error {
	return tripcast.FieldError(key, "%q (from %s): %s", c.masked(key), c.Source(key), fmt.Sprintf(format, args...))
}

// masked returns the value of setting key for printing.
func (c *Config) masked(key string) string {
	v := c.Get(key)
	if f, ok := field(key); ok && f.Secret && v != "" {
		return secret.Masked
	}
	return Mask(v)
}

// Secrets returns every secret in the configuration (passwords and keys in
// URLs and DSNs, secret settings), for secret.Scrub and secret.Handler.
func (c *Config) Secrets() []string {
	var out []string
	for _, f := range Fields() {
		v := c.Get(f.Key)
		if f.Secret && v != "" {
			out = append(out, v)
			continue
		}
		out = append(out, secret.Values(v)...)
	}
	return out
}

// LoadFile merges a JSON config file into c. Unknown keys are an error that
// names the key.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			return fmt.Errorf("config file %s: %s: want a string, got %T", path, k, m[k])
		}
		if err := c.SetFrom(k, s, "file "+path); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	return nil
}

// LoadEnv merges the TRIPCAST_* variables found by lookup (os.LookupEnv in
// production) into c.
func (c *Config) LoadEnv(lookup func(string) (string, bool)) {
	for _, f := range Fields() {
		if v, ok := lookup(f.Env); ok {
			_ = c.SetFrom(f.Key, v, "env "+f.Env)
		}
	}
}

// Finish fills the settings derived from the data directory and validates
// every setting: URLs parse and have a scheme, the listen address is
// host:port, compact_every is a duration, the log settings are known words.
// Errors are EINVALID, name the setting, its value (masked) and its source.
// What each backend accepts in its URL is checked by the caller (the
// backend registry in cmd/tripcast).
func (c *Config) Finish() error {
	if c.DataDir == "" {
		return c.Invalid("data_dir", "must not be empty")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c.Invalid("data_dir", "%v", err)
	}
	c.DataDir = abs
	if c.Blob == "" {
		c.Blob = "file://" + filepath.ToSlash(filepath.Join(abs, "blobs"))
	}
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.ToSlash(filepath.Join(abs, "tripcast.db"))
	}
	for _, key := range []string{"blob", "db", "stream"} {
		v := c.Get(key)
		if key == "stream" && v == "embedded" {
			continue
		}
		for _, part := range strings.Split(v, ",") { // nats://a,nats://b
			u, err := url.Parse(part)
			if err != nil || u.Scheme == "" {
				return c.Invalid(key, "not a URL with a scheme%s", dsnHint(key, v))
			}
			if key != "stream" && part != v {
				return c.Invalid(key, "not one URL")
			}
		}
	}
	if err := CheckAddr(c.Listen); err != nil {
		return c.Invalid("listen", "%v", err)
	}
	d, err := time.ParseDuration(c.CompactEvery)
	if c.CompactEvery == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 {
		return c.Invalid("compact_every", "not a duration such as 10m (0 turns compaction off)")
	}
	c.compactEvery = d
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c.Invalid("log_level", "not one of debug, info, warn, error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return c.Invalid("log_format", "not one of text, json")
	}
	if c.NATSUser == "" && c.NATSPassword != "" {
		return c.Invalid("nats_user", "must not be empty when nats_password is set")
	}
	for _, name := range strings.Split(c.PredictionSinks, ",") {
		switch strings.TrimSpace(name) {
		case "", "parquet", "objects":
		default:
			return c.Invalid("prediction_sinks", "unknown sink %q: use parquet, or parquet,objects", name)
		}
	}
	if c.spoolSync, err = time.ParseDuration(c.SpoolSyncEvery); err != nil || c.spoolSync <= 0 {
		return c.Invalid("spool_sync_every", "not a positive duration such as 1s")
	}
	if c.spoolMaxMB, err = strconv.ParseInt(c.SpoolMaxMB, 10, 64); err != nil || c.spoolMaxMB <= 0 {
		return c.Invalid("spool_max_mb", "not a positive number of MiB")
	}
	c.monitorWindow, err = time.ParseDuration(c.MonitorWindow)
	if c.MonitorWindow == "0" {
		c.monitorWindow, err = 0, nil
	}
	if err != nil || c.monitorWindow < 0 {
		return c.Invalid("monitor_window", "not a duration such as 1h (0 turns scheduled reports off)")
	}
	for _, hook := range strings.Split(c.AlertWebhooks, ",") {
		if hook = strings.TrimSpace(hook); hook == "" {
			continue
		}
		if u, err := url.Parse(hook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.Invalid("alert_webhooks", "not a list of http(s) URLs")
		}
	}
	return nil
}

// SpoolSyncInterval is spool_sync_every as a duration, valid after Finish.
func (c *Config) SpoolSyncInterval() time.Duration { return c.spoolSync }

// SpoolMaxBytes is spool_max_mb in bytes, valid after Finish.
func (c *Config) SpoolMaxBytes() int64 { return c.spoolMaxMB << 20 }

// MonitorInterval is monitor_window as a duration (0: no scheduled
// reports), valid after Finish.
func (c *Config) MonitorInterval() time.Duration { return c.monitorWindow }

// dsnHint explains, for a db setting in PostgreSQL's key=value form, how
// to write it as a URL.
func dsnHint(key, v string) string {
	if key == "db" && strings.Contains(v, "=") && !strings.Contains(v, "://") {
		return " (a key=value DSN is not accepted: write postgres://user:password@host:5432/db?sslmode=...)"
	}
	return ""
}

// CompactInterval is compact_every as a duration (0: never), valid after
// Finish.
func (c *Config) CompactInterval() time.Duration { return c.compactEvery }

// CheckAddr reports whether addr is a host:port listen address with a port
// in 0..65535 (0 picks a free one).
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %w", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q, want 0..65535", port)
	}
	return nil
}

// Mask returns s with any password in a URL's user info or a DSN, any NATS
// token and any secret-looking query parameter replaced by "xxxxx" (see
// secret.Mask: the one masking function).
func Mask(s string) string { return secret.Mask(s) }

// Masked returns a copy of c with secrets masked, for printing.
func (c Config) Masked() Config {
	for _, f := range Fields() {
		_ = c.Set(f.Key, c.masked(f.Key))
	}
	return c
}

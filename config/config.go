// Package config holds tripcast's typed configuration: defaults, then an
// optional JSON config file, then TRIPCAST_* environment variables, then
// command-line flags (applied by the caller), each overriding the last.
package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// Config is the effective configuration of one tripcast process. Each field's
// `env` tag names its environment variable and its `json` tag its key in the
// config file and its flag name (with "_" read as "-").
type Config struct {
	DataDir   string `json:"data_dir" env:"TRIPCAST_DATA_DIR" help:"folder that holds everything the embedded defaults write"`
	Blob      string `json:"blob" env:"TRIPCAST_BLOB" help:"object store URL: file:///path (default file://<data-dir>/blobs) or s3://bucket?endpoint=...&region=..."`
	DB        string `json:"db" env:"TRIPCAST_DB" help:"metadata database URL: sqlite:///path/file.db (default sqlite://<data-dir>/tripcast.db) or postgres://..."`
	Stream    string `json:"stream" env:"TRIPCAST_STREAM" help:"ride event stream URL: embedded, nats://host:4222 or kinesis://stream?region=...&endpoint=..."`
	Listen    string `json:"listen" env:"TRIPCAST_LISTEN" help:"HTTP listen address"`
	ModelName string `json:"model_name" env:"TRIPCAST_MODEL_NAME" help:"registered model name"`
	LogLevel  string `json:"log_level" env:"TRIPCAST_LOG_LEVEL" help:"log level: debug, info, warn or error"`
	LogFormat string `json:"log_format" env:"TRIPCAST_LOG_FORMAT" help:"log format: text or json"`
	// CompactEvery is a Go duration ("10m"); "0" turns compaction off.
	CompactEvery string `json:"compact_every" env:"TRIPCAST_COMPACT_EVERY" help:"how often serving processes merge the parquet prediction log's finished hours into one file each (0: never)"`
	// PredictionSinks: "parquet" (default) or "parquet,objects".
	PredictionSinks string `json:"prediction_sinks" env:"TRIPCAST_PREDICTION_SINKS" help:"prediction logs in the blob store: parquet, or parquet,objects to also write one JSON object per prediction (the seed's layout; slow and costly on S3)"`
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
		MonitorWindow:   "1h",
		AlertRules:      "dataset_drift,prediction_drift,rmse_change=0.2,missing=0.05,dead_letters=0.01",
	}
}

// Field describes one settable fields of Config, in declaration order.
type Field struct {
	Key  string // json key, e.g. "data_dir"
	Flag string // flag name, e.g. "data-dir"
	Env  string // environment variable, e.g. "TRIPCAST_DATA_DIR"
	Help string
}

// Fields returns the settable fields of Config.
func Fields() []Field {
	t := reflect.TypeOf(Config{})
	out := make([]Field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("json")
		out = append(out, Field{Key: key, Flag: strings.ReplaceAll(key, "_", "-"), Env: f.Tag.Get("env"), Help: f.Tag.Get("help")})
	}
	return out
}

// Set sets the field with the given json key. It returns an error naming the
// key when there is no such field.
func (c *Config) Set(key, value string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("json") == key {
			v.Field(i).SetString(value)
			return nil
		}
	}
	return fmt.Errorf("config: unknown setting %q", key)
}

// Get returns the value of the field with the given json key.
func (c *Config) Get(key string) string {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("json") == key {
			return v.Field(i).String()
		}
	}
	return ""
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
		if err := c.Set(k, s); err != nil {
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
			_ = c.Set(f.Key, v)
		}
	}
}

// Finish fills the settings derived from the data directory and validates
// the result; errors name the offending setting.
func (c *Config) Finish() error {
	if c.DataDir == "" {
		return fmt.Errorf("config: data_dir: must not be empty")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("config: data_dir: %w", err)
	}
	c.DataDir = abs
	if c.Blob == "" {
		c.Blob = "file://" + filepath.ToSlash(filepath.Join(abs, "blobs"))
	}
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.ToSlash(filepath.Join(abs, "tripcast.db"))
	}
	for _, f := range []struct{ key, val string }{{"blob", c.Blob}, {"db", c.DB}, {"stream", c.Stream}} {
		if f.val == "embedded" {
			continue
		}
		u, err := url.Parse(f.val)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("config: %s: %q is not a URL with a scheme", f.key, f.val)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config: log_format: %q is not one of text, json", c.LogFormat)
	}
	return nil
}

// secretParams are URL query parameters whose values are masked.
var secretParams = []string{"secret", "password", "token", "key", "credential", "signature"}

// Mask returns s with any password in a URL's user info and any secret-looking
// query parameter replaced by "xxxxx".
func Mask(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	masked := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		masked = true
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		for _, p := range secretParams {
			if strings.Contains(lk, p) {
				q.Set(k, "xxxxx")
				masked = true
			}
		}
	}
	if !masked {
		return s
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Masked returns a copy of c with secrets masked, for printing.
func (c Config) Masked() Config {
	for _, f := range Fields() {
		_ = c.Set(f.Key, Mask(c.Get(f.Key)))
	}
	return c
}

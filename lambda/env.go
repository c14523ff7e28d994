package lambda

import (
	"net/url"
	"strings"
	"unicode"

	"tripcast"
)

// The course's Lambda function is configured by these environment
// variables (ReadEnv reads them).
const (
	// EnvPredictionsStream names the output stream.
	EnvPredictionsStream = "PREDICTIONS_STREAM_NAME"
	// EnvTestRun: True answers without publishing.
	EnvTestRun = "TEST_RUN"
	// EnvRunID is reported as the predictions' version and picks the
	// registered version trained by that run.
	EnvRunID = "RUN_ID"
	// EnvModelLocation is a model artifact to load directly: a local path
	// or s3://bucket/key.
	EnvModelLocation = "MODEL_LOCATION"
	// EnvKinesisEndpoint is the Kinesis endpoint of the output stream.
	EnvKinesisEndpoint = "KINESIS_ENDPOINT_URL"
	// EnvRegion and EnvDefaultRegion are AWS's region variables: the
	// first wins.
	EnvRegion        = "AWS_REGION"
	EnvDefaultRegion = "AWS_DEFAULT_REGION"
	// EnvS3Endpoint is AWS's S3 endpoint variable, used for an s3://
	// MODEL_LOCATION without an endpoint parameter.
	EnvS3Endpoint = "AWS_ENDPOINT_URL_S3"
)

// maxRunID bounds RUN_ID (an MLflow run id has 32 characters, a tripcast
// run id fewer).
const maxRunID = 128

// Env is the course's Lambda configuration, read from the environment by
// ReadEnv. A variable that is unset or empty leaves its field zero.
type Env struct {
	OutputStream    string    // PREDICTIONS_STREAM_NAME
	TestRun         bool      // TEST_RUN
	RunID           string    // RUN_ID
	ModelLocation   *Location // MODEL_LOCATION; nil when unset
	KinesisEndpoint string    // KINESIS_ENDPOINT_URL
	// Region is AWS_REGION, else AWS_DEFAULT_REGION.
	Region string
	// RegionFromDefault reports that Region came from AWS_DEFAULT_REGION
	// (AWS_REGION is unset): tripcast passes it on where it would only
	// look at AWS_REGION.
	RegionFromDefault bool
}

// Location is where MODEL_LOCATION points: a local file (Path), or an S3
// object (Bucket, Key), read through the blob store at
// s3://Bucket?endpoint=Endpoint&region=Region.
type Location struct {
	Path     string
	Bucket   string
	Key      string
	Endpoint string // the URL's endpoint parameter, else AWS_ENDPOINT_URL_S3
	Region   string // the URL's region parameter, else Env.Region
}

// String is the location as given (an S3 location without its query).
func (l *Location) String() string {
	if l.Bucket == "" {
		return l.Path
	}
	return "s3://" + l.Bucket + "/" + l.Key
}

// StoreURL is the blob-store URL of an S3 location's bucket ("" for a
// local file).
func (l *Location) StoreURL() string {
	if l.Bucket == "" {
		return ""
	}
	q := url.Values{}
	if l.Endpoint != "" {
		q.Set("endpoint", l.Endpoint)
	}
	if l.Region != "" {
		q.Set("region", l.Region)
	}
	u := url.URL{Scheme: "s3", Host: l.Bucket, RawQuery: q.Encode()}
	return u.String()
}

// ReadEnv reads the course's configuration through lookup (os.LookupEnv in
// production). Errors are EINVALID and name the variable:
//   - PREDICTIONS_STREAM_NAME: 1 to 64 characters from A-Z a-z 0-9 _ -
//     (the names every tripcast stream engine accepts);
//   - TEST_RUN: True, true or 1; False, false or 0 (Python's str(bool) and
//     the usual spellings); anything else is an error;
//   - RUN_ID: at most 128 printable characters without spaces;
//   - MODEL_LOCATION: a local path, or s3://bucket/key with optional
//     endpoint and region parameters; any other URL scheme is an error;
//   - KINESIS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3: http:// or https://
//     URLs with a host.
func ReadEnv(lookup func(string) (string, bool)) (Env, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var e Env
	if v := get(EnvPredictionsStream); v != "" {
		if !validStreamName(v) {
			return Env{}, tripcast.FieldError(EnvPredictionsStream, "%q is not a valid stream name: use 1 to 64 characters from A-Z a-z 0-9 _ -", v)
		}
		e.OutputStream = v
	}
	switch v := get(EnvTestRun); v {
	case "", "False", "false", "0":
	case "True", "true", "1":
		e.TestRun = true
	default:
		return Env{}, tripcast.FieldError(EnvTestRun, "%q is not a boolean: use True or False (also true/false, 1/0)", v)
	}
	if v := get(EnvRunID); v != "" {
		if len(v) > maxRunID || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
			return Env{}, tripcast.FieldError(EnvRunID, "%q: want at most %d printable characters without spaces", v, maxRunID)
		}
		e.RunID = v
	}
	if v := get(EnvKinesisEndpoint); v != "" {
		if err := checkEndpoint(EnvKinesisEndpoint, v); err != nil {
			return Env{}, err
		}
		e.KinesisEndpoint = v
	}
	e.Region = get(EnvRegion)
	if e.Region == "" {
		e.Region = get(EnvDefaultRegion)
		e.RegionFromDefault = e.Region != ""
	}
	if v := get(EnvModelLocation); v != "" {
		s3Endpoint := get(EnvS3Endpoint)
		if s3Endpoint != "" {
			if err := checkEndpoint(EnvS3Endpoint, s3Endpoint); err != nil {
				return Env{}, err
			}
		}
		loc, err := parseLocation(v, s3Endpoint, e.Region)
		if err != nil {
			return Env{}, err
		}
		e.ModelLocation = loc
	}
	return e, nil
}

// validStreamName reports whether name is 1 to 64 characters from
// A-Z a-z 0-9 _ -.
func validStreamName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkEndpoint refuses anything but an http:// or https:// URL with a host.
func checkEndpoint(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return tripcast.FieldError(name, "%q is not an http:// or https:// URL with a host", v)
	}
	return nil
}

// parseLocation parses MODEL_LOCATION (see ReadEnv).
func parseLocation(v, s3Endpoint, region string) (*Location, error) {
	scheme, _, ok := strings.Cut(v, "://")
	if !ok {
		return &Location{Path: v}, nil
	}
	if scheme != "s3" {
		return nil, tripcast.FieldError(EnvModelLocation, "%q: scheme %q is not supported: give a local path or s3://bucket/key", v, scheme)
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, tripcast.FieldError(EnvModelLocation, "%q is not a URL: %v", v, err)
	}
	key := strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || key == "" || strings.HasSuffix(key, "/") {
		return nil, tripcast.FieldError(EnvModelLocation, "%q: want s3://bucket/key naming a model file", v)
	}
	loc := &Location{Bucket: u.Host, Key: key, Endpoint: s3Endpoint, Region: region}
	for k, vals := range u.Query() {
		val := vals[len(vals)-1]
		switch k {
		case "endpoint":
			if err := checkEndpoint(EnvModelLocation, val); err != nil {
				return nil, err
			}
			loc.Endpoint = val
		case "region":
			loc.Region = val
		default:
			return nil, tripcast.FieldError(EnvModelLocation, "%q: unknown parameter %q (known: endpoint, region)", v, k)
		}
	}
	return loc, nil
}

// StreamURL returns the stream setting the output is published on, given
// the stream setting and whether it was given (by flag, TRIPCAST_STREAM or
// the config file) rather than left at its default:
//   - a given setting is used; a kinesis:// URL without a region
//     parameter gets AWS_DEFAULT_REGION's when AWS_REGION is unset;
//   - otherwise, when KINESIS_ENDPOINT_URL or PREDICTIONS_STREAM_NAME is
//     set (the course's function), Kinesis:
//     kinesis://?endpoint=KINESIS_ENDPOINT_URL&region=REGION (without the
//     endpoint: AWS's endpoint for the region);
//   - otherwise the default setting.
func (e Env) StreamURL(setting string, given bool) string {
	if given {
		u, err := url.Parse(setting)
		if err != nil || u.Scheme != "kinesis" || !e.RegionFromDefault || u.Query().Has("region") {
			return setting
		}
		sep := "?"
		switch {
		case strings.HasSuffix(setting, "?"):
			sep = ""
		case u.RawQuery != "":
			sep = "&"
		}
		return setting + sep + "region=" + url.QueryEscape(e.Region)
	}
	if e.KinesisEndpoint == "" && e.OutputStream == "" {
		return setting
	}
	q := url.Values{}
	if e.KinesisEndpoint != "" {
		q.Set("endpoint", e.KinesisEndpoint)
	}
	if e.Region != "" {
		q.Set("region", e.Region)
	}
	return "kinesis://?" + q.Encode()
}

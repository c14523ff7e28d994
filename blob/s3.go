package blob

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"tripcast"
)

// maxPutSize is the largest object a single PutObject may write (5 GiB).
const maxPutSize = 5 << 30

// S3 is a tripcast.BlobStore over an S3 bucket (AWS or any S3-compatible
// server), optionally under a key prefix. Put spools the object to a local
// temporary file while hashing it, then sends it with one PutObject, which
// S3 applies atomically; the sha256 travels as the user metadata "sha256"
// and as the request's x-amz-checksum-sha256, so the server checks it.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends with "/"
}

var _ tripcast.BlobStore = (*S3)(nil)

// s3URL is a parsed s3:// URL.
type s3URL struct {
	bucket, prefix   string
	endpoint, region string
	create           bool
}

// CheckS3URL reports whether rawURL is an s3:// URL OpenS3 accepts, without
// connecting. Errors are EINVALID on field blob and name the offending
// part, never the whole URL (which may hold secrets).
func CheckS3URL(rawURL string) error {
	_, err := parseS3URL(rawURL)
	return err
}

// parseS3URL parses rawURL, refusing any part OpenS3 would not use.
func parseS3URL(rawURL string) (s3URL, error) {
	var s s3URL
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return s, tripcast.FieldError("blob", "not a URL: %v", errors.Unwrap(err))
	case u.Scheme != "s3":
		return s, tripcast.FieldError("blob", "scheme %q, want s3", u.Scheme)
	case u.User != nil:
		return s, tripcast.FieldError("blob", "an s3 URL takes no user info: credentials come from the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, role)")
	case u.Host == "":
		return s, tripcast.FieldError("blob", "missing bucket (s3://bucket/prefix)")
	case u.Port() != "":
		return s, tripcast.FieldError("blob", "bucket %q has a port: an S3-compatible server is given as ?endpoint=http://host:port", u.Host)
	case u.Fragment != "":
		return s, tripcast.FieldError("blob", "an s3 URL takes no #fragment")
	}
	s.bucket = u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := checkKey(p); err != nil {
			return s, tripcast.FieldError("blob", "prefix %q must be a relative \"/\"-separated path", p)
		}
		s.prefix = p + "/"
	}
	for k, v := range u.Query() {
		switch val := v[len(v)-1]; k {
		case "endpoint":
			eu, err := url.Parse(val)
			if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
				return s, tripcast.FieldError("blob", "endpoint must be an http:// or https:// URL")
			}
			s.endpoint = val
		case "region":
			s.region = val
		case "create":
			if s.create, err = strconv.ParseBool(val); err != nil {
				return s, tripcast.FieldError("blob", "create %q must be true or false", val)
			}
		default:
			return s, tripcast.FieldError("blob", "unknown option %q (known: endpoint, region, create)", k)
		}
	}
	return s, nil
}

// OpenS3 opens the store at rawURL, of the form
//
//	s3://bucket[/prefix][?endpoint=http://127.0.0.1:7070][&region=us-east-1][&create=true]
//
// endpoint points at an S3-compatible server and turns on path-style
// requests; region defaults to the AWS config chain (AWS_REGION, profile),
// then to us-east-1 when an endpoint is given. Credentials come from the
// standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared
// profile, instance role). A missing bucket is an ENOTFOUND error naming it,
// unless create=true, which creates it.
func OpenS3(ctx context.Context, rawURL string) (*S3, error) {
	su, err := parseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	s := &S3{bucket: su.bucket, prefix: su.prefix}
	endpoint, region, create := su.endpoint, su.region, su.create
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob s3 %s: aws config: %w", s.bucket, err)
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return nil, tripcast.FieldError("blob", "no region: add ?region= to the s3 URL or set AWS_REGION")
		}
		cfg.Region = "us-east-1"
	}
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	if err := s.checkBucket(ctx, create, cfg.Region); err != nil {
		return nil, err
	}
	return s, nil
}

// checkBucket fails clearly when the bucket is missing, or creates it.
func (s *S3) checkBucket(ctx context.Context, create bool, region string) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return s.wrap(err, "open bucket", "")
	}
	if !create {
		return tripcast.Errorf(tripcast.ENOTFOUND, "s3 bucket %q does not exist: create it, or add ?create=true to the blob URL", s.bucket)
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return s.wrap(err, "create bucket", "")
		}
	}
	return nil
}

// Bucket returns the store's bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix returns the key prefix inside the bucket: "" or ending with "/".
func (s *S3) Prefix() string { return s.prefix }

// isNotFound reports whether err is S3's answer for a missing key or bucket.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// wrap gives err the store's context and a tripcast code: ENOTFOUND for a
// missing object, EUNAVAILABLE when the server cannot be reached or refuses
// the credentials (an operator's problem, not the caller's), the cause itself
// otherwise.
func (s *S3) wrap(err error, op, key string) error {
	where := s.URI(key)
	if isNotFound(err) && key != "" {
		return &tripcast.Error{Code: tripcast.ENOTFOUND, Message: fmt.Sprintf("blob %s not found", where), Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("blob %s %s: %w", op, where, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: fmt.Sprintf("blob %s %s: s3 refused access: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and their permissions", op, where), Err: err}
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// No answer from S3 at all: network, DNS, credentials chain.
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: fmt.Sprintf("blob %s %s: s3 unavailable", op, where), Err: err}
	}
	return fmt.Errorf("blob %s %s: %w", op, where, err)
}

// Put spools r to a temporary file while hashing it, then writes it with one
// PutObject. Objects over 5 GiB are refused (EINVALID).
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (tripcast.BlobInfo, error) {
	if err := checkKey(key); err != nil {
		return tripcast.BlobInfo{}, err
	}
	tmp, err := os.CreateTemp("", "tripcast-s3-put-*")
	if err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("blob put %s: spool: %w", s.URI(key), err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), ctxReader{ctx, io.LimitReader(r, maxPutSize+1)}, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("blob put %s: %w", s.URI(key), err)
	}
	if n > maxPutSize {
		return tripcast.BlobInfo{}, tripcast.Errorf(tripcast.EINVALID, "blob put %s: object larger than %d bytes, the S3 single-request limit", s.URI(key), int64(maxPutSize))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return tripcast.BlobInfo{}, fmt.Errorf("blob put %s: spool: %w", s.URI(key), err)
	}
	sum := h.Sum(nil)
	hexSum := hex.EncodeToString(sum)
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         &s.bucket,
		Key:            aws.String(s.prefix + key),
		Body:           tmp,
		ContentLength:  aws.Int64(n),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
		Metadata:       map[string]string{"sha256": hexSum},
	})
	if err != nil {
		return tripcast.BlobInfo{}, s.wrap(err, "put", key)
	}
	return tripcast.BlobInfo{Key: key, Size: n, SHA256: hexSum, ModTime: time.Now()}, nil
}

// Open opens key for reading. ENOTFOUND when it does not exist.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, s.wrap(err, "open", key)
	}
	return out.Body, nil
}

// Stat returns key's info. ENOTFOUND when it does not exist. SHA256 is ""
// for objects not written by tripcast (no "sha256" metadata).
func (s *S3) Stat(ctx context.Context, key string) (tripcast.BlobInfo, error) {
	if err := checkKey(key); err != nil {
		return tripcast.BlobInfo{}, err
	}
	return s.head(ctx, key)
}

func (s *S3) head(ctx context.Context, key string) (tripcast.BlobInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return tripcast.BlobInfo{}, s.wrap(err, "stat", key)
	}
	return tripcast.BlobInfo{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		SHA256:  out.Metadata["sha256"],
		ModTime: aws.ToTime(out.LastModified),
	}, nil
}

// listHeads bounds the HeadObject requests List sends at once.
const listHeads = 8

// List returns the objects whose key starts with prefix, sorted by key. It
// sends one HeadObject per object (8 at a time) to read the sha256s.
func (s *S3) List(ctx context.Context, prefix string) ([]tripcast.BlobInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap(err, "list", prefix)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if checkKey(k) != nil {
				continue // folder markers and keys tripcast cannot address
			}
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	infos := make([]tripcast.BlobInfo, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, listHeads)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			infos[i], errs[i] = s.head(ctx, k)
		})
	}
	wg.Wait()
	out := infos[:0]
	for i := range infos {
		if tripcast.ErrorCode(errs[i]) == tripcast.ENOTFOUND {
			continue // deleted while we listed
		} else if errs[i] != nil {
			return nil, fmt.Errorf("blob list: %w", errs[i])
		}
		out = append(out, infos[i])
	}
	return out, nil
}

// Delete removes key. ENOTFOUND when it does not exist (checked with a
// HeadObject first: S3's DeleteObject succeeds on missing keys).
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.head(ctx, key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)}); err != nil {
		return s.wrap(err, "delete", key)
	}
	return nil
}

// URI returns s3://bucket/prefix/key.
func (s *S3) URI(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// Close releases nothing: the S3 client holds only idle connections.
func (s *S3) Close() error { return nil }

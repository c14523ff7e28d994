package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"tripcast"
	"tripcast/internal/testenv"
)

// MustOpenS3 creates a bucket with a unique name on the test server, opens a
// store on it under the given prefix ("" for none), and deletes the bucket
// and everything in it when the test ends.
func MustOpenS3(t testing.TB, prefix string) *S3 {
	t.Helper()
	endpoint := testenv.S3Endpoint(t)
	b := make([]byte, 6)
	rand.Read(b)
	bucket := "tripcast-test-" + hex.EncodeToString(b)
	raw := "s3://" + bucket + "/" + prefix + "?create=true&region=us-east-1&endpoint=" + url.QueryEscape(endpoint)
	s, err := OpenS3(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("cleanup: list %s: %v", bucket, err)
				return
			}
			for _, o := range page.Contents {
				if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
					t.Errorf("cleanup: delete %s/%s: %v", bucket, aws.ToString(o.Key), err)
				}
			}
		}
		if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &s.bucket}); err != nil {
			t.Errorf("cleanup: delete bucket %s: %v", bucket, err)
		}
		s.Close()
	})
	return s
}

func TestS3(t *testing.T) {
	testenv.S3Endpoint(t)
	runConformance(t, func(t *testing.T) tripcast.BlobStore { return MustOpenS3(t, "") })
}

func BenchmarkS3(b *testing.B) { benchStore(b, MustOpenS3(b, "")) }

func TestS3Prefix(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		s := MustOpenS3(t, "team/a")
		if got, want := s.Prefix(), "team/a/"; got != want {
			t.Fatalf("got prefix %q, want %q", got, want)
		}
		mustPut(t, s, "models/m.json", []byte("{}"))
		if got, want := s.URI("models/m.json"), "s3://"+s.Bucket()+"/team/a/models/m.json"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		// The object sits under the prefix in the bucket, with its sha256
		// as user metadata.
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String("team/a/models/m.json")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := out.Metadata["sha256"], "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"; got != want {
			t.Fatalf("got metadata sha256 %q, want %q", got, want)
		}
		// Objects outside the prefix are invisible.
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String("team/b/x"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(keysOf(list), ","); got != "models/m.json" {
			t.Fatalf("got %s, want models/m.json", got)
		}
	})
	t.Run("OKForeignObject", func(t *testing.T) {
		// An object written by another tool has no recorded sha256.
		s := MustOpenS3(t, "")
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String("foreign"), Body: strings.NewReader("abc")}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stat(ctx, "foreign")
		if err != nil {
			t.Fatal(err)
		}
		if st.Size != 3 || st.SHA256 != "" {
			t.Fatalf("got size %d sha256 %q, want 3 and \"\"", st.Size, st.SHA256)
		}
	})
}

func TestOpenS3(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrNoBucket", func(t *testing.T) {
		endpoint := testenv.S3Endpoint(t)
		_, err := OpenS3(ctx, "s3://tripcast-test-missing-bucket?endpoint="+url.QueryEscape(endpoint))
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), `"tripcast-test-missing-bucket"`) {
			t.Fatalf("got %v, want ENOTFOUND naming the bucket", err)
		}
	})
	t.Run("ErrBadCredentials", func(t *testing.T) {
		endpoint := testenv.S3Endpoint(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		_, err := OpenS3(ctx, "s3://tripcast-test-any?endpoint="+url.QueryEscape(endpoint))
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), "credentials") {
			t.Fatalf("got %v, want EUNAVAILABLE about the credentials", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, raw := range []string{
			"s3://",
			"file:///tmp/x",
			"s3://bucket/../up?endpoint=http://127.0.0.1:1",
			"s3://bucket?endpoint=127.0.0.1:7070",
			"s3://bucket?endpoint=http://127.0.0.1:1&create=maybe",
			"s3://bucket?endpoint=http://127.0.0.1:1&colour=red",
		} {
			_, err := OpenS3(ctx, raw)
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "blob" {
				t.Errorf("OpenS3(%q): got %v, want EINVALID on field blob", raw, err)
			}
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret")
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		// Port 1 on loopback: nothing listens there.
		_, err := OpenS3(ctx, "s3://bucket?endpoint=http://127.0.0.1:1")
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Fatalf("got %v, want EUNAVAILABLE", err)
		}
	})
}

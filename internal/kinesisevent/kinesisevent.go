// Package kinesisevent builds AWS Lambda Kinesis events in the shape of the
// course's test event, for tests of the Lambda handler.
package kinesisevent

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Course returns a Kinesis event holding one record per payload (each
// base64-encoded in kinesis.data, partition key its index), shaped like the
// course's example event.
func Course(payloads ...string) []byte {
	var recs []string
	for i, p := range payloads {
		seq := fmt.Sprintf("4963008166608487929058118563032477039860870488080252%04d", i)
		recs = append(recs, fmt.Sprintf(`{
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "%d",
                "sequenceNumber": "%s",
                "data": "%s",
                "approximateArrivalTimestamp": 1654161514.132
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-000000000000:%s",
            "eventName": "aws:kinesis:Record",
            "invokeIdentityArn": "arn:aws:iam::XXXXXXXXX:role/lambda-kinesis-role",
            "awsRegion": "eu-west-1",
            "eventSourceARN": "arn:aws:kinesis:eu-west-1:XXXXXXXXX:stream/ride_events"
        }`, i, seq, base64.StdEncoding.EncodeToString([]byte(p)), seq))
	}
	return []byte(`{"Records": [` + strings.Join(recs, ",") + `]}`)
}

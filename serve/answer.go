package serve

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"tripcast"
)

// AppendPrediction appends p in the course's answer format to dst:
//
//	{"model":"ride_duration_prediction_model","version":"3","prediction":{"ride_duration":21.3,"ride_id":"256"}}
//
// It is hand-written because every answer of every adapter goes through it
// (no reflection, no allocation when dst has room). p.RideDuration must be
// finite (Snapshot.Predict guarantees it); a non-finite value is written as
// null rather than as invalid JSON.
func AppendPrediction(dst []byte, p tripcast.Prediction) []byte {
	dst = append(dst, `{"model":`...)
	dst = AppendString(dst, p.Model)
	dst = append(dst, `,"version":`...)
	dst = AppendString(dst, p.Version)
	dst = append(dst, `,"prediction":{"ride_duration":`...)
	dst = AppendFloat(dst, p.RideDuration)
	dst = append(dst, `,"ride_id":`...)
	if p.RideIDNumeric {
		dst = append(dst, p.RideID...) // a JSON number's text, as it came
	} else {
		dst = AppendString(dst, p.RideID)
	}
	return append(dst, "}}"...)
}

// MarshalPrediction returns p in the course's answer format.
func MarshalPrediction(p tripcast.Prediction) []byte {
	return AppendPrediction(make([]byte, 0, 128), p)
}

// answer is the course's answer format, for decoding.
type answer struct {
	Model      string `json:"model"`
	Version    string `json:"version"`
	Prediction struct {
		RideDuration *float64        `json:"ride_duration"`
		RideID       json.RawMessage `json:"ride_id"`
	} `json:"prediction"`
}

// ParsePrediction decodes an answer written by AppendPrediction (or by the
// course's service: a numeric ride_id is accepted). EINVALID when data is
// not such an answer.
func ParsePrediction(data []byte) (tripcast.Prediction, error) {
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return tripcast.Prediction{}, &tripcast.Error{Code: tripcast.EINVALID, Message: "invalid prediction JSON", Err: err}
	}
	if a.Prediction.RideDuration == nil {
		return tripcast.Prediction{}, tripcast.FieldError("prediction.ride_duration", "missing")
	}
	id, numeric, err := rideID(rawValue(a.Prediction.RideID))
	if err == nil && id == "" {
		err = tripcast.Errorf(tripcast.EINVALID, "missing")
	}
	if err != nil {
		return tripcast.Prediction{}, tripcast.FieldError("prediction.ride_id", "%s", tripcast.ErrorMessage(err))
	}
	return tripcast.Prediction{RideID: id, RideIDNumeric: numeric, Model: a.Model, Version: a.Version, RideDuration: *a.Prediction.RideDuration}, nil
}

// rawValue scans one already-valid JSON value.
func rawValue(raw []byte) value {
	if len(raw) == 0 {
		return value{}
	}
	s := newScanner(raw)
	v, err := scanValue(&s)
	if err != nil {
		return value{}
	}
	return v
}

// AppendFloat appends x as a JSON number, as encoding/json writes it
// (shortest form; exponent only below 1e-6 or from 1e21), or null when x is
// not finite.
func AppendFloat(dst []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(x)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, x, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, x, 'f', -1, 64)
}

// AppendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

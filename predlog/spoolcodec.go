package predlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"time"

	"tripcast"
)

// A spool segment is a sequence of frames, one per record:
//
//	uint32 payload length | uint32 CRC-32C of the payload | payload
//
// (little endian). The payload is the record: ride_id, model, version and
// source as uvarint-prefixed strings, a flags byte (1: ride_id was a JSON
// number, 2: a pickup time follows), the zones as uvarints, trip_distance
// and prediction as float64 bits, then the pickup time (when flagged),
// received_at and predicted_at as Unix nanoseconds and the latency in
// nanoseconds, as varints. A frame cut short or failing its CRC ends the
// segment (a write torn by a machine crash).

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn says a segment ends with an incomplete or corrupt frame.
var errTorn = errors.New("torn or corrupt frame")

// appendFrames appends recs to buf, one frame each.
func appendFrames(buf []byte, recs []tripcast.PredictionRecord) []byte {
	for i := range recs {
		r := &recs[i]
		at := len(buf)
		buf = append(buf, make([]byte, frameHeader)...)
		buf = appendString(buf, r.RideID)
		buf = appendString(buf, r.Model)
		buf = appendString(buf, r.Version)
		buf = appendString(buf, r.Source)
		var flags byte
		if r.RideIDNumeric {
			flags |= 1
		}
		if !r.PickupTime.IsZero() {
			flags |= 2
		}
		buf = append(buf, flags)
		buf = binary.AppendUvarint(buf, uint64(r.PULocationID))
		buf = binary.AppendUvarint(buf, uint64(r.DOLocationID))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(r.TripDistance))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(r.Prediction))
		if flags&2 != 0 {
			buf = binary.AppendVarint(buf, r.PickupTime.UnixNano())
		}
		buf = binary.AppendVarint(buf, r.ReceivedAt.UnixNano())
		buf = binary.AppendVarint(buf, r.PredictedAt.UnixNano())
		buf = binary.AppendVarint(buf, int64(r.Latency))
		payload := buf[at+frameHeader:]
		binary.LittleEndian.PutUint32(buf[at:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(buf[at+4:], crc32.Checksum(payload, castagnoli))
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeFrames appends the records of a segment's data to recs. It stops
// at the first torn or corrupt frame and returns errTorn with the records
// before it and the offset where it stopped.
func decodeFrames(data []byte, recs []tripcast.PredictionRecord) ([]tripcast.PredictionRecord, int, error) {
	off := 0
	for off < len(data) {
		if len(data)-off < frameHeader {
			return recs, off, errTorn
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > len(data)-off-frameHeader {
			return recs, off, errTorn
		}
		payload := data[off+frameHeader : off+frameHeader+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			return recs, off, errTorn
		}
		r, ok := decodeRecord(payload)
		if !ok {
			return recs, off, errTorn
		}
		recs = append(recs, r)
		off += frameHeader + n
	}
	return recs, off, nil
}

// decoder reads a payload; ok turns false at the first malformed field.
type decoder struct {
	b  []byte
	ok bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.ok = false
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.ok = false
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if !d.ok || n > uint64(len(d.b)) {
		d.ok = false
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.ok = false
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.ok = false
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func decodeRecord(payload []byte) (tripcast.PredictionRecord, bool) {
	d := decoder{b: payload, ok: true}
	var r tripcast.PredictionRecord
	r.RideID, r.Model, r.Version, r.Source = d.string(), d.string(), d.string(), d.string()
	flags := d.byte()
	r.RideIDNumeric = flags&1 != 0
	r.PULocationID, r.DOLocationID = int(d.uvarint()), int(d.uvarint())
	r.TripDistance, r.Prediction = d.float(), d.float()
	if flags&2 != 0 {
		r.PickupTime = time.Unix(0, d.varint()).UTC()
	}
	r.ReceivedAt = time.Unix(0, d.varint()).UTC()
	r.PredictedAt = time.Unix(0, d.varint()).UTC()
	r.Latency = time.Duration(d.varint())
	return r, d.ok && len(d.b) == 0
}

package tlc

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"tripcast"
)

// ZonesURL is where the TLC publishes the taxi zone lookup.
const ZonesURL = "https://d37ci6vzurychx.cloudfront.net/misc/taxi_zone_lookup.csv"

// ZonesFile is the zone lookup's file name.
const ZonesFile = "taxi_zone_lookup.csv"

// Zone is one TLC taxi zone.
type Zone struct {
	ID          int    // LocationID, 1..265
	Borough     string // Manhattan, Queens, Brooklyn, Bronx, Staten Island, EWR, Unknown, N/A
	Zone        string // zone name; names repeat (56 and 57 are both "Corona")
	ServiceZone string // EWR, Boro Zone, Yellow Zone, Airports, N/A
}

// Zones is the taxi zone lookup: LocationID → zone.
type Zones struct {
	byID map[int]Zone
	ids  []int // sorted
}

// LoadZones reads taxi_zone_lookup.csv from path.
func LoadZones(path string) (*Zones, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &tripcast.Error{Code: tripcast.ENOTFOUND, Message: path + ": no such file", Err: err}
		}
		return nil, fmt.Errorf("open zones: %w", err)
	}
	defer f.Close()
	z, err := ReadZones(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return z, nil
}

// ReadZones reads a taxi zone lookup in the TLC's CSV format: the header
// LocationID,Borough,Zone,service_zone (any case; location_id accepted), then
// one row per zone. IDs must be positive integers without duplicates.
func ReadZones(r io.Reader) (*Zones, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	header, err := cr.Read()
	if err == io.EOF {
		return nil, tripcast.Errorf(tripcast.EINVALID, "zone lookup is empty")
	} else if err != nil {
		return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "zone lookup: bad CSV", Err: err}
	}
	want := []string{"locationid", "borough", "zone", "service_zone"}
	for i, h := range header {
		h = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "\ufeff"))
		if h != want[i] && !(i == 0 && h == "location_id") {
			return nil, tripcast.Errorf(tripcast.EINVALID, "zone lookup: column %d is %q, want LocationID,Borough,Zone,service_zone", i+1, header[i])
		}
	}
	z := &Zones{byID: make(map[int]Zone, 266)}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, &tripcast.Error{Code: tripcast.EINVALID, Message: "zone lookup: bad CSV", Err: err}
		}
		line, _ := cr.FieldPos(0)
		id, err := strconv.Atoi(strings.TrimSpace(rec[0]))
		if err != nil || id <= 0 {
			return nil, tripcast.Errorf(tripcast.EINVALID, "zone lookup line %d: LocationID %q is not a positive integer", line, rec[0])
		}
		if _, dup := z.byID[id]; dup {
			return nil, tripcast.Errorf(tripcast.EINVALID, "zone lookup line %d: LocationID %d appears twice", line, id)
		}
		z.byID[id] = Zone{ID: id, Borough: rec[1], Zone: rec[2], ServiceZone: rec[3]}
		z.ids = append(z.ids, id)
	}
	if len(z.ids) == 0 {
		return nil, tripcast.Errorf(tripcast.EINVALID, "zone lookup has no zones")
	}
	slices.Sort(z.ids)
	return z, nil
}

// Lookup returns the zone with LocationID id.
func (z *Zones) Lookup(id int) (Zone, bool) {
	zone, ok := z.byID[id]
	return zone, ok
}

// Len returns the number of zones.
func (z *Zones) Len() int { return len(z.ids) }

// All returns every zone, by ID.
func (z *Zones) All() []Zone {
	out := make([]Zone, len(z.ids))
	for i, id := range z.ids {
		out[i] = z.byID[id]
	}
	return out
}

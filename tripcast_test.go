package tripcast_test

import (
	"testing"

	"tripcast"
)

func TestTripsSelect(t *testing.T) {
	trips := &tripcast.Trips{
		Pickup:       []int64{10, 20, 30},
		Dropoff:      []int64{11, 21, 31},
		PULocationID: []int32{1, 2, 3},
		DOLocationID: []int32{4, 5, 6},
		TripDistance: []float64{0.5, 1.5, 2.5},
		Duration:     []float64{7, 8, 9},
	}
	got := trips.Select([]int{2, 0})
	if got.Len() != 2 || got.Pickup[0] != 30 || got.PULocationID[1] != 1 || got.Duration[0] != 9 || got.TripDistance[1] != 0.5 {
		t.Fatalf("got %+v", got)
	}
	if got.PassengerCount != nil {
		t.Fatalf("a nil column became %v", got.PassengerCount)
	}
}

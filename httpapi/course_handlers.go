package httpapi

import (
	"net/http"

	"tripcast/serve"
)

// handleCoursePredict is the course's web service: POST /predict with
//
//	{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}
//
// answers {"duration": <minutes>, "model_version": "<version>"}. The body
// is any ride event /v1/predict takes (ride_id optional); bad input is 400
// with the field and the reason, as there. The prediction is logged like
// any other (source http), under the ride's ride_id or a generated one,
// which the X-Ride-ID header of the answer carries.
func (s *Server) handleCoursePredict(w http.ResponseWriter, r *http.Request) {
	p, ok := s.predictOne(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Ride-ID", p.RideID)
	buf := getBuf()
	defer putBuf(buf)
	b := append(buf.AvailableBuffer(), `{"duration":`...)
	b = serve.AppendFloat(b, p.RideDuration)
	b = append(b, `,"model_version":`...)
	b = serve.AppendString(b, p.Version)
	s.writeJSON(w, http.StatusOK, append(b, '}'))
}

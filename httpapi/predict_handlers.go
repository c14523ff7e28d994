package httpapi

import (
	"context"
	"fmt"
	"mime"
	"net/http"

	"tripcast"
	"tripcast/serve"
)

// logPredictions hands recs to the prediction log.
func (s *Server) logPredictions(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if s.cfg.PredictionLog == nil || len(recs) == 0 {
		return nil
	}
	if err := s.cfg.PredictionLog.Log(ctx, recs); err != nil {
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			return fmt.Errorf("log %d predictions: %w", len(recs), err)
		}
		return err
	}
	return nil
}

// predictOne reads one ride event from the body, predicts it (a ride
// without ride_id gets a generated one), logs the prediction and returns
// it. On any failure it answers the error itself and returns false.
func (s *Server) predictOne(w http.ResponseWriter, r *http.Request) (tripcast.Prediction, bool) {
	received := s.cfg.Now()
	buf := getBuf()
	defer putBuf(buf)
	if !s.readBody(w, r, buf, s.cfg.MaxBodyBytes) {
		return tripcast.Prediction{}, false
	}
	var out [1]serve.Outcome
	ev := [1][]byte{buf.Bytes()}
	if _, err := s.pred.PredictEvents(r.Context(), ev[:], received, tripcast.SourceHTTP, out[:]); err != nil {
		s.writeError(w, r, err)
		return tripcast.Prediction{}, false
	}
	if out[0].Err != nil {
		s.writeError(w, r, out[0].Err)
		return tripcast.Prediction{}, false
	}
	assignRideIDs(out[:])
	if err := s.logPredictions(r.Context(), []tripcast.PredictionRecord{out[0].Record}); err != nil {
		s.writeError(w, r, err)
		return tripcast.Prediction{}, false
	}
	return out[0].Prediction, true
}

// handlePredict answers POST /v1/predict in the course's stream format.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	p, ok := s.predictOne(w, r)
	if !ok {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	s.writeJSON(w, http.StatusOK, serve.AppendPrediction(buf.AvailableBuffer(), p))
}

// isNDJSON reports whether the request declares newline-delimited JSON.
func isNDJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl")
}

// handleBatch answers a batch. The status is 200 whenever the batch itself
// could be read (even when some or all items failed): each item of the
// answer array is either a prediction or {"error","field","index"}, in input
// order, so a row is identified by its position; a row without ride_id
// gets a generated one, returned in its answer. The whole request fails
// only when the body is over its limits or is not a JSON array (400), when
// the batch budget is spent (429), or when no model is loaded (503). All
// items are predicted with one model version.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	received := s.cfg.Now()
	cost, ok := s.takeBudget(w, r)
	if !ok {
		return
	}
	defer s.budget.release(cost)
	buf := getBuf()
	defer putBuf(buf)
	if !s.readBody(w, r, buf, s.cfg.MaxBatchBodyBytes) {
		return
	}
	var items [][]byte
	if isNDJSON(r) {
		items = serve.SplitLines(buf.Bytes())
	} else {
		var err error
		if items, err = serve.SplitArray(buf.Bytes()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if len(items) > s.cfg.MaxBatchItems {
		s.writeErrorStatus(w, r, http.StatusRequestEntityTooLarge,
			tripcast.FieldError("body", "batch of %d rides is over the limit of %d", len(items), s.cfg.MaxBatchItems))
		return
	}
	out := make([]serve.Outcome, len(items))
	if len(items) > 0 {
		if _, err := s.pred.PredictEvents(r.Context(), items, received, tripcast.SourceHTTP, out); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	assignRideIDs(out)
	recs := make([]tripcast.PredictionRecord, 0, len(items))
	for i := range out {
		if out[i].Err == nil {
			recs = append(recs, out[i].Record)
		}
	}
	if err := s.logPredictions(r.Context(), recs); err != nil {
		s.writeError(w, r, err)
		return
	}

	body := buf.AvailableBuffer()[:0] // the request bytes are no longer needed
	if cap(body) < 128*len(items) {
		body = make([]byte, 0, 128*len(items)+2)
	}
	body = append(body, '[')
	for i := range out {
		if i > 0 {
			body = append(body, ',')
		}
		if out[i].Err != nil {
			body = s.appendError(body, r, out[i].Err, i)
		} else {
			body = serve.AppendPrediction(body, out[i].Prediction)
		}
	}
	body = append(body, ']')
	s.writeJSON(w, http.StatusOK, body)
}

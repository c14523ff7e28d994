package gbdt_test

import ("testing";"context";"tripcast/gbdt";"tripcast/internal/rawfeatures";"tripcast/internal/testfiles/tlcdata";"bytes";"encoding/json")

func TestSplitRepeat(t *testing.T) {
	d := rawfeatures.Dataset(tlcdata.Course(t, "2021-01"))
	p := gbdt.DefaultParams()
	p.NumBoostRound = 300
	p.EarlyStoppingRounds = 0
	p.Eta, p.Lambda, p.Subsample, p.ColsampleByTree = 0.1, 1, 1, 1
	p.NThread = 2
	m, _ := gbdt.Train(context.Background(), d, nil, p, nil)
	var buf bytes.Buffer
	m.WriteJSON(&buf)
	var doc struct{ Learner struct{ GradientBooster struct{ Model struct{ Trees []struct{
		Left []int `json:"left_children"`; Right []int `json:"right_children"`; Feat []int `json:"split_indices"`; Cond []float64 `json:"split_conditions"` } `json:"trees"` } `json:"model"` } `json:"gradient_booster"` } `json:"learner"` }
	json.Unmarshal(buf.Bytes(), &doc)
	trees := doc.Learner.GradientBooster.Model.Trees
	// count, per depth, how many nodes have the same path-splits as the previous tree
	same := make([]int, 9); tot := make([]int, 9)
	for i := 1; i < len(trees); i++ {
		a, b := trees[i-1], trees[i]
		var walk func(x, y, depth int)
		walk = func(x, y, depth int) {
			if b.Left[y] < 0 { return }
			tot[depth]++
			if x < 0 || a.Left[x] < 0 || a.Feat[x] != b.Feat[y] || a.Cond[x] != b.Cond[y] { walk(-1, b.Left[y], depth+1); walk(-1, b.Right[y], depth+1); return }
			same[depth]++
			walk(a.Left[x], b.Left[y], depth+1); walk(a.Right[x], b.Right[y], depth+1)
		}
		walk(0, 0, 0)
	}
	t.Log(same, tot)
}

package features

// FoldsForTest exposes the fold assignment to the tests.
var FoldsForTest = folds

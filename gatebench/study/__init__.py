"""gatebench.study: a study is a file (`conf/study/*.yaml`); `python -m gatebench.study SPEC`
tunes, selects on validation, evaluates on disjoint seeds and writes a report whose primary
comparisons were stated before the runs (docs/studies.md)."""

"""Expert review: the reviewers' web app and the terminal review."""

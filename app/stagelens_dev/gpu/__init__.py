"""Preparing and running the CUDA check on a lent GPU machine (issue 17): everything it needs is
made here, on a CPU machine, and carried in one folder (`.gpu/`, git-ignored)."""

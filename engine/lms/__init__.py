"""Language models: profiles (what to call), connections (a ready `dspy.LM`), exact revisions."""

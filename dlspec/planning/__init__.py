"""Planning: a resolved Program in, plan trees with every shape inferred out (pure Python, no torch).

planner expands blocks, repeats and labelled chains; graph builds the
operations of bodies with bindings and merges; nodes holds the tree types.
"""

"""Planning: a resolved Program in, plan trees with every shape inferred out (pure Python, no torch).

planner expands blocks, repeats and labelled chains; graph builds the
operations of bodies with bindings and merges (merges: their shape rules;
latent: a VAE's steps); nodes holds the tree types; layer_init writes a train
block's layer_init rule into a copy of a plan.
inputs turns an `input` declaration into one sample's shape, given the data's
facts (facts.py: the `DataFacts` value the train stage measures); roles carries
axis roles through each layer; naming names unlabelled steps; memory estimates
one sample's activation memory; lengths follows a token model's padding lengths;
named checks a model's named inputs and outputs (and refuses training several);
matmul is the `matmul` merge's shape rule.
"""

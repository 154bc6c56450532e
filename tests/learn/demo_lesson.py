"""A small lesson of four steps (a run, a choice, a number, a formula) that the runner's and
the app's lesson tests play."""

DEMO = """
title = "Demo"
teaches = "how the runner plays a lesson"

[[step]]
id = "start"
title = "A run"
text = "Watch a few steps."
preset = "gaussians"
paused = false
[step.config]
train.epochs = 400
[step.wait]
steps = 5

[[step]]
id = "choose"
title = "A choice"
text = "Pick one."
[step.quiz]
kind = "choice"
question = "Which is two?"
choices = ["one", "two", "three"]
answer = 1
hint = "Count."
explain = "Two is two."

[[step]]
id = "number"
title = "A number"
text = "Type one."
label = "lr 0.3"
keep_runs = true
[step.config]
train.lr = 0.3
[step.wait]
epochs = 2
[step.quiz]
kind = "number"
question = "Half of one?"
answer = 0.5
tolerance = 0.01
hint = "Divide."
explain = "One over two."

[[step]]
id = "formula"
title = "A formula"
text = "Type one."
[step.wait]
key = "d"
[step.quiz]
kind = "formula"
question = "The derivative of a·x with respect to x?"
answer = "a"
variables = ["a", "x"]
explain = "The factor in front."
"""

"""The course: lessons as data (``lesson``), the learner's progress, and the runner that plays a
lesson in the app."""

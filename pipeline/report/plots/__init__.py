"""Charts for reports and emails (matplotlib, headless).

``style`` holds the shared look and the conversion of a figure into something a report or an email
can carry; ``control`` draws control charts, ``impact`` before/after and segmented-regression
charts, ``culture`` the idea funnel and participation charts.
"""

"""Assignment specifications: parts, points, thresholds and the names graded cells must leave."""

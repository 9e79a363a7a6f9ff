#!/usr/bin/env Rscript
# MatchIt's own lalonde data and MatchIt's pairs on it: the reference for the matcher's tie rule.
#
# Needs MatchIt >= 4.5.4: Debian's MatchIt 4.5.1 ignores the caliper in method = "nearest" (a bug
# in its compiled matcher, fixed upstream in 4.5.4). The committed files were made with R 4.2.2
# and MatchIt 4.7.2 built from source into a private library, from the repository root:
#
#   R_LIBS=<library with MatchIt 4.7.2> Rscript tests/r/matchit_lalonde.R \
#       tests/data/lalonde.csv tests/data/r_reference/matchit_lalonde.json
#
# 1. writes data(lalonde, package = "MatchIt") (614 units, 185 treated; many identical covariate
#    patterns, hence many controls of equal propensity) to the CSV with an id column L001..L614
#    in the data's row order, so that the ids' byte order is MatchIt's data order; `name` keeps
#    the original row name. The CSV is read back and must be identical to the data;
# 2. matches on that CSV, treated = focal, with MatchIt's defaults otherwise (distance = "glm",
#    m.order = "largest", replace = FALSE):
#      propensity: matchit(treat ~ age + educ + race + married + nodegree + re74 + re75,
#                          method = "nearest", caliper = 0.05, std.caliper = FALSE)
#      logit_sd:   the same with distance = "glm", link = "linear.logit", caliper = 0.2,
#                  std.caliper = TRUE (0.2 SD of the logit of the propensity score)
#    and writes the pairs (in the order MatchIt forms them: treated units by descending distance,
#    ties in data order), the distance of every unit and the caliper width.
#
# Output: JSON with 15 significant digits.

suppressPackageStartupMessages({
  library(MatchIt)
  library(jsonlite)
})
if (packageVersion("MatchIt") < "4.5.4") {
  stop("MatchIt >= 4.5.4 is needed (4.5.1 ignores the caliper in method = 'nearest'); set R_LIBS")
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript tests/r/matchit_lalonde.R OUT.csv OUT.json")
csv_path <- args[1]
json_path <- args[2]

data("lalonde", package = "MatchIt", envir = environment())
d <- data.frame(
  id = sprintf("L%03d", seq_len(nrow(lalonde))),
  name = rownames(lalonde),
  lalonde,
  row.names = NULL,
  stringsAsFactors = FALSE
)
d$race <- as.character(d$race)
write.csv(d, csv_path, row.names = FALSE)
back <- read.csv(csv_path, stringsAsFactors = FALSE)
stopifnot(identical(as.list(back), as.list(d)))  # every column bit for bit
stopifnot(identical(order(back$id, method = "radix"), seq_len(nrow(back))))

f <- treat ~ age + educ + race + married + nodegree + re74 + re75
dd <- back
rownames(dd) <- dd$id

pairs_of <- function(m) {
  mm <- m$match.matrix
  formed <- order(m$distance[m$treat == 1], decreasing = TRUE)
  formed <- formed[!is.na(mm[formed, 1])]
  unname(lapply(formed, function(i) unname(c(rownames(mm)[i], mm[i, 1]))))
}

run <- function(m, scale, caliper) {
  list(
    caliper = caliper,
    caliper_scale = scale,
    caliper_width = unname(m$caliper),
    n_pairs = sum(!is.na(m$match.matrix[, 1])),
    pairs = pairs_of(m),
    distance = unname(m$distance)
  )
}

m_p <- matchit(f, data = dd, method = "nearest", caliper = 0.05, std.caliper = FALSE)
m_l <- matchit(f, data = dd, method = "nearest", distance = "glm", link = "linear.logit",
               caliper = 0.2, std.caliper = TRUE)

out <- list(
  provenance = list(
    R = R.version.string,
    MatchIt = as.character(packageVersion("MatchIt")),
    script = "tests/r/matchit_lalonde.R",
    data = "data(lalonde, package = 'MatchIt')"
  ),
  formula = deparse(f),
  focal = "treat = 1",
  id = dd$id,
  matchings = list(
    propensity = run(m_p, "propensity", 0.05),
    logit_sd = run(m_l, "logit_sd", 0.2)
  )
)
write_json(out, json_path, auto_unbox = TRUE, digits = NA, pretty = TRUE)

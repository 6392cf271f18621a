# tracenet officer console: English. Every other catalogue has exactly these
# messages (src/console/i18n.rs tests it).

skip-to-content = Skip to content
nav-label = Main
nav-trace = Trace a weapon
nav-traces = Traces
nav-inbox = Inbox
nav-alerts = Alerts
nav-registry = Registry
nav-reports = Reports
nav-federation = Federation
language = Language
language-switch = Switch
signed-in-as = Signed in as { $name }
password-change = Change password
sign-out = Sign out
back-home = Back to the console
problem-title = Something went wrong

error-too-large = The form is too large.
error-csrf = This form did not come from your console session (its security token is missing or out of date). Reload the page and try again.
error-role = Your role does not allow this page. Ask an administrator if you need it.
error-not-found = There is no such page.
error-random = The node could not draw a random number. Try again; if it persists, tell the node's administrator.
error-storage = The node could not read or write its store. The node's log says why.
error-audit = The audit log cannot be written, so nothing was done. Tell the node's administrator.
error-no-trace = There is no such trace on this node.
error-nothing-to-retry = Every expected State has given its final answer: there is nothing to retry.
error-form = A field of the form is missing or not one of the choices offered.
error-decision = The decision could not be made or delivered. The inbox shows where the request stands.
error-no-registry = This node holds no registry.
error-no-record = There is no such record in this registry.
error-period = The report's period is two dates, YYYY-MM-DD, from 1970-01-01 on, the first not after the last.

login-title = Sign in
login-intro = Sign in with the account your unit's administrator gave you.
login-name = Officer name
login-password = Password
login-submit = Sign in
login-wrong = Wrong name or password.
login-locked = Too many failed sign-ins for this name. Try again in { $minutes ->
    [one] one minute
   *[other] { $minutes_text } minutes
}.
login-busy = Too many sign-ins at once on this console. Try again in a minute.

password-title = Choose your password
password-first = You signed in with a one-time password. Choose your own before you go on.
password-current = Current password
password-new = New password
password-again = New password again
password-submit = Change password
password-mismatch = The two new passwords differ.
password-changed = Your password was changed.
password-current-wrong = The current password is wrong.
password-weak = The new password must be at least { $count_text } characters long.
password-same = The new password must differ from the current one.

traces-title = Traces
traces-filter-status = Status
traces-filter-any = Any
traces-filter-state = State
traces-filter-from = Sent since
traces-filter-apply = Filter
traces-none = No trace matches.
traces-created = Sent
traces-marking = Marking
traces-status = Status
traces-states = Expected holders
traces-answers = Answers
answers-count = { $count ->
    [one] { $count_text } answer
   *[other] { $count_text } answers
}
records-count = { $count ->
    [one] { $count_text } record
   *[other] { $count_text } records
}
events-count = { $count ->
    [one] { $count_text } event
   *[other] { $count_text } events
}
seconds = { $count ->
    [one] { $count_text } second
   *[other] { $count_text } seconds
}

trace-new-title = Trace a weapon
trace-new-intro = Describe the weapon's markings as they appear on it (ISACS 05.31). Only the markings and the request's ground and use are sent; your case stays on this node.
trace-not-sent = The trace was not sent:
trace-marking = Markings
trace-maker = Manufacturer
trace-maker-hint = As marked; suggestions come from the maker table.
trace-country = Country of manufacture
trace-country-hint = Two letters (ISO 3166), e.g. BE.
trace-serial = Serial number
trace-serial-hint = As marked. Write ? for each character you cannot read.
trace-factory-code = Factory code
trace-factory-hint = When the weapon bears a factory code instead of (or beside) the maker's name, e.g. 66.
trace-imports = Import marks
trace-imports-hint = Country, and year if marked: BE:2009. Add one per mark.
trace-weapon = The weapon
trace-category = Category
trace-calibre = Calibre
trace-model = Model
trace-request = The request
trace-ground = Legal ground
trace-use = Intended use
trace-urgent = Urgent
trace-justification = Why it is urgent
trace-justify-urgent = Say why the trace is urgent.
trace-local = Stays on this node
trace-local-hint = Never sent to another State.
trace-case = Case reference
trace-note = Notes
trace-send = Send the trace
trace-title = Trace
trace-sent = Sent
trace-deadline = Waits for answers until
trace-digest = Query
trace-officer = Sent by
trace-retry = Ask again those who have not answered
trace-evidence = Evidence bundle
trace-print = Print the trace report
trace-refresh = Refresh
trace-status = Status

status-sent = sent
status-acknowledged = acknowledged
status-answered = answered
status-partial = partial
status-timed-out = timed out

diversion-title = Point of diversion:
diversion-sentence = The weapon left lawful control in { $state }, held by { $holder }, when it was { $event } ({ $date }).
diversion-sentence-no-holder = The weapon left lawful control in { $state } when it was { $event } ({ $date }).
diversion-sentence-undated = The weapon left lawful control in { $state }.
last-recorded-sentence = Last recorded in { $state } ({ $date }); what became of the weapon was never reported.
last-recorded-exported = Last recorded leaving { $state } for { $to } ({ $date }); { $to } holds no record of it, and what became of the weapon was never reported.

holders-title = Expected holders
holders-none = No member is known to hold records under this marking.
holder-answered = answered
holder-withheld = withheld: { $reason }
holder-refused = refused: { $reason }; may be asked again after { $retry }
holder-declined = declined: { $reason }
holder-acknowledged = acknowledged: a person there decides
holder-awaiting = awaiting an answer
holder-unreachable = unreachable since { $since }

answers-title = Answers
answers-none = No answer yet.
answers-state = State
answers-received = Received
answers-signature = Signature
answers-disclosed = What it disclosed
badge-verified = verified (roster version { $version })
badge-not-verified = not verified: { $reason }
outcome-hit = { $records }, { $events }
outcome-no-hit = no record of this weapon
outcome-withheld = withheld: { $reason }
outcome-acknowledged = received; a person decides
outcome-too-many = { $count_text } records match; give more of the marking
outcome-refused = refused
outcome-unreadable = unreadable

timeline-title = Chain of custody
timeline-none = No event is known yet.
source-answer = answer { $number } from { $state }
source-own-registry = our registry
map-title = The weapon's path
map-caption = Countries the weapon passed through, in order; the point of diversion in red.

gaps-title = Gaps
gap-withheld = { $state } withheld its answer: { $reason }
gap-withheld-pattern = { $state } withheld its answer to a serial with unreadable characters: { $reason }. It may or may not hold this weapon: such a serial never reaches a State's confidential records, and may match other weapons' records. A confidential trace tells more, with a ? for each character that cannot be read (a * cannot be traced confidentially), or ask { $state } outside tracenet
gap-no-answer = { $state } has not answered
gap-not-a-member = { $state } is not a member of the federation: the records go on there; ask it outside tracenet
gap-mismatch = { $state } answered with records of another serial than the one traced; they are not used in the chain (ask { $state } why)
gap-no-history = { $state } holds a record of this weapon without events: where it went is not recorded there (ask { $state } outside tracenet)
gap-unreachable = { $state } has been unreachable since { $since }
gap-refused = { $state } refused: { $reason }
gap-declined = { $state } declined: { $reason }
gap-trimmed = { $state }'s answer left out { $count } events to fit
gap-ambiguous = { $state } holds { $count } records that match
gap-no-holder = No member holds records under { $prefix }
gap-not-connected = This node was connected to no member when the trace was sent
gap-no-record = No State that answered holds a record of this weapon

event-manufactured = manufactured
event-exported = exported
event-imported = imported
event-transferred = transferred
event-lost = lost
event-stolen = stolen
event-seized = seized
event-surrendered = surrendered
event-deactivated = deactivated
event-destroyed = destroyed

held-by-manufacturer = the manufacturer
held-by-state-military = the armed forces
held-by-state-police = the police
held-by-state-other = another State body
held-by-licensed-dealer = a licensed dealer
held-by-licensed-civilian = a licensed civilian
held-by-unknown = an unknown holder

category-pistol = pistol
category-revolver = revolver
category-rifle = rifle
category-carbine = carbine
category-assault-rifle = assault rifle
category-submachine-gun = submachine gun
category-shotgun = shotgun
category-light-machine-gun = light machine gun
category-heavy-machine-gun = heavy machine gun
category-grenade-launcher = grenade launcher
category-mortar = mortar
category-other = other

ground-seized-in-crime = seized in a crime
ground-illicit-possession = illicit possession
ground-illicit-transfer = illicit transfer
ground-found-abandoned = found or abandoned
ground-conflict-recovery = recovered in a conflict
ground-altered-markings = altered markings
ground-other = other

use-criminal-investigation = criminal investigation
use-judicial-proceedings = judicial proceedings
use-diversion-analysis = analysis of diversion
use-sanctions-monitoring = sanctions monitoring
use-other = other

reason-ongoing-investigation = an investigation under way
reason-national-law = national law
reason-other = another reason
reason-rate-limited = too many requests at once
reason-clock-skew = clocks too far apart
reason-expired = the request had expired
reason-ttl-too-long = the request's validity was too long
reason-quota-full = too many requests waiting
reason-overloaded = the node was overloaded
reason-too-large = the request was too large
reason-not-in-roster = not in the roster

disclose-full = everything
disclose-no-holders = without holder categories
disclose-month = dates to the month
disclose-year = dates to the year
disclose-acknowledge-only = acknowledge only

review-urgent = the trace is urgent
review-confidential = it matched a confidential record
review-outside-groups = the requester is outside our sharing groups

quality-exact = exact
quality-folded = look-alike characters or accents
quality-transliterated = transliterated
quality-embedded-letters = letters in the serial
quality-wildcard = with unreadable characters

inbox-title = Inbox
inbox-intro = Requests from other States that wait for a person's decision.
inbox-none = No request waits.
inbox-requester = Requesting State
inbox-why = Why it waits
inbox-received = Received
inbox-deadline = Decide before
inbox-matched = Records it matched
inbox-matched-hint = Shown here only: these details never leave the node unless you approve, and then only as the disclosure level allows.
inbox-no-match = No record matched.
inbox-disclose = Disclose
inbox-approve = Approve
inbox-reason = Reason
inbox-refuse = Refuse
inbox-older = Older decisions
inbox-lapsed = Not decided before its deadline: the requester was told nothing more
inbox-approved = Approved ({ $level }) on { $at }
inbox-refused = Refused ({ $reason }) on { $at }

alerts-title = Alerts
alerts-intro = Weapons recorded here as lost or stolen that another State has traced.
alerts-none = No alert.
alerts-older = Older alerts
alerts-at = When
alerts-event = Recorded here as
alerts-more = { $n ->
    [one] And one more record held here as lost or stolen matched the same trace.
   *[other] And { $n_text } more records held here as lost or stolen matched the same trace.
}

registry-title = Registry
registry-holds = This registry holds { $count }.
registry-search = Search
registry-none = No record matches.
registry-quality = Match
registry-reasons = Why it matches
record-title = Record
record-id = Record
record-local-hint = National record: shown on this node only.
record-confidential = Confidential
record-confidential-hint = A person decides before anything of it is disclosed.
record-life = Life of the weapon

reports-title = Reports
reports-csv = Download as CSV
reports-from = From
reports-to = To
reports-show = Show
reports-period = From { $from } to { $to }, both days included. Traces sent per month: the last twelve months that had any.
reports-counts = Traces and answers
reports-answer-times = Median time to answer, per State
reports-slowest-answers = Slowest answer, per State
reports-without-final-answer = Traces ended without a final answer, per State
reports-n-of-total = { $n } of { $total }
reports-no-answers = No answer yet.
report-hit-rate = Traces answered
report-sdg-traced = SDG 16.4.2: weapons traced
report-sdg-origin = SDG 16.4.2: origin established
report-traces-sent = Traces sent
report-traces-answered = Traces answered
report-traces-partial = Traces partly answered
report-traces-timed-out = Traces timed out
report-queries-received = Queries received
report-answers-sent = Answers sent
report-answers-withheld = Answers withheld
report-traces-open = Traces still open
report-queries-refused = Queries refused
report-answers-acknowledged = Answers acknowledged (a person decides)

federation-title = Federation
federation-roster = Roster
federation-roster-version = version { $version }
federation-roster-until = Roster valid until
federation-audit-head = Audit log head
federation-verify = Verify the audit log
federation-peers = Members
federation-peer = Peer
federation-connected = Connected
federation-yes = yes
federation-no = no
federation-not-linked = not linked (dialled when a trace asks it)
audit-verified = The audit log is intact: { $count_text } entries checked.
audit-broken = The audit log is broken in { $count_text } places. Tell the node's administrator.

date-format = { $day } { $month } { $year }
instant-format = { $date }, { $time } UTC
time-beyond-calendar = Unix time { $secs } (beyond the calendar: a wrong time)
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

import-title = Import records
import-file = File
import-file-hint = JSON Lines or CSV, as `tracenet registry import` reads them; up to 2 GiB.
import-format = Format
import-format-auto = from the file's name
import-delimiter = CSV separator
import-encoding = Encoding
import-submit = Import
import-too-large = The file is larger than the console takes (2 GiB); import it with `tracenet registry import` on the node's machine.
import-no-file = Choose a file to import.
import-by = Started by { $name }
import-progress = Progress
import-records-read = { $count_text } records read
import-running = The import is running; this page refreshes by itself.
import-failed = The import stopped:
import-counts = { $added } added, { $updated } updated, { $unchanged } unchanged, { $rejected } rejected.
import-rejected-title = Rejected lines
import-line = Line
import-field = Field
import-reason = Why
import-more-rejected = … and { $count_text } more rejected lines.

nav-officers = Officers
officers-title = Officer accounts
officers-intro = Accounts of this node's console. An officer traces and reads; a reviewer also decides the inbox; an admin also manages the registry and the accounts.
officers-made = Account { $name } has this one-time password:
officers-made-hint = Give it to the officer in person. It is shown only now and must be changed at the first sign-in.
officers-role = Role
officers-since = Since
officers-must-change = (one-time password not yet changed)
officers-reset = New password
officers-remove = Remove
officers-add = Add an account
officers-not-yourself = You cannot remove your own account.
officers-exists = Account { $name } already exists; its "New password" button gives it a new password.
officers-exists-yourself = { $name } is your own account: "Change password" at the top of the page changes its password.
officers-missing = No account { $name }; the list below shows the accounts.
role-officer = officer
role-reviewer = reviewer
role-admin = admin

event-to = to { $state }
event-from = from { $state }
event-with = with { $state }
reports-per-month = Traces sent per month
reports-missing = The audit log misses entries { $ranges } (an archive file removed or renamed, or the oldest entries removed from the store): the counts lack those that fall in this period. Run tracenet audit verify on the node.
import-choose-format = The file's name does not say its format (.jsonl, .csv or .tsv): choose it in the form.
trace-force = Send even if the maker table does not know this maker in this country
trace-force-hint = Check the spelling, or tick "Send even if the maker table does not know this maker".
trace-force-country-hint = Correct the country of manufacture, or tick "Send even if the maker table does not know this maker".
trace-send-in-clear-hint = Untick "Blind: send the marking only to the States that hold it" to send it in the clear, which every expected holder reads, or narrow the reading of the serial.
trace-maker-or-code-hint = Give the manufacturer, or the factory code when the weapon bears one instead, or both.
trace-model-hint = Kept with your case notes on this node; not sent.
trace-confidential = Confidential trace
trace-confidential-box = Blind: send the marking only to the States that hold it
trace-confidential-hint = The other members learn only that a blind trace was made under this maker; States that cannot be asked blind wait for your choice.
blind-title = Asked blind
blind-asked = Blind answer
blind-received = Received the marking
blind-choose = Some States could not be asked blind. Their records stay unread unless you send them the marking in the clear.
blind-send-clear = Send the marking in the clear to them
blind-send-clear-one = Send to this State only
blind-pending = waiting
blind-unreachable = unreachable
blind-holds-nothing = holds nothing under this prefix
blind-no-hit = not held there
blind-hit = holds it: sent the query
blind-no-filter = no blind filter (an older node)
blind-beyond-bound = too many unreadable characters to ask blind
blind-refused = refused (budget)
blind-failed = failed
traces-older = Older traces

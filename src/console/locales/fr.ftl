# Console d'officier tracenet : français.

skip-to-content = Aller au contenu
nav-label = Principal
nav-trace = Tracer une arme
nav-traces = Traçages
nav-inbox = Demandes reçues
nav-alerts = Alertes
nav-registry = Registre
nav-reports = Rapports
nav-federation = Fédération
language = Langue
language-switch = Changer
signed-in-as = Connecté : { $name }
password-change = Changer de mot de passe
sign-out = Se déconnecter
back-home = Retour à la console
problem-title = Un problème est survenu

error-too-large = Le formulaire est trop volumineux.
error-csrf = Ce formulaire ne provient pas de votre session (son jeton de sécurité manque ou est périmé). Rechargez la page et réessayez.
error-role = Votre rôle ne donne pas accès à cette page. Adressez-vous à un administrateur si vous en avez besoin.
error-not-found = Cette page n'existe pas.
error-random = Le nœud n'a pas pu tirer un nombre aléatoire. Réessayez ; si cela persiste, prévenez l'administrateur du nœud.
error-storage = Le nœud n'a pas pu lire ou écrire sa base. Son journal en donne la raison.
error-audit = Le journal d'audit ne peut pas être écrit : rien n'a été fait. Prévenez l'administrateur du nœud.
error-no-trace = Ce traçage n'existe pas sur ce nœud.
error-nothing-to-retry = Chaque État attendu a donné sa réponse définitive : il n'y a rien à redemander.
error-form = Un champ du formulaire manque ou ne fait pas partie des choix proposés.
error-decision = La décision n'a pas pu être prise ou transmise. La liste des demandes indique où elle en est.
error-no-registry = Ce nœud ne détient pas de registre.
error-no-record = Cet enregistrement n'existe pas dans ce registre.
error-period = La période du rapport est faite de deux dates, AAAA-MM-JJ, à partir du 1970-01-01, la première ne tombant pas après la seconde.

login-title = Connexion
login-intro = Connectez-vous avec le compte que l'administrateur de votre unité vous a remis.
login-name = Nom d'officier
login-password = Mot de passe
login-submit = Se connecter
login-wrong = Nom ou mot de passe incorrect.
login-locked = Trop d'échecs de connexion pour ce nom. Réessayez dans { $minutes ->
    [one] une minute
   *[other] { $minutes_text } minutes
}.
login-busy = Trop de connexions simultanées sur cette console. Réessayez dans une minute.

password-title = Choisissez votre mot de passe
password-first = Vous vous êtes connecté avec un mot de passe à usage unique. Choisissez le vôtre avant de continuer.
password-current = Mot de passe actuel
password-new = Nouveau mot de passe
password-again = Nouveau mot de passe, à nouveau
password-submit = Changer le mot de passe
password-mismatch = Les deux nouveaux mots de passe diffèrent.
password-changed = Votre mot de passe a été modifié.
password-current-wrong = Le mot de passe actuel est incorrect.
password-weak = Le nouveau mot de passe doit compter au moins { $count_text } caractères.
password-same = Le nouveau mot de passe doit différer de l'actuel.

traces-title = Traçages
traces-filter-status = État
traces-filter-any = Tous
traces-filter-state = État membre
traces-filter-from = Envoyés depuis le
traces-filter-apply = Filtrer
traces-none = Aucun traçage ne correspond.
traces-created = Envoyé
traces-marking = Marquage
traces-status = État
traces-states = Détenteurs attendus
traces-answers = Réponses
answers-count = { $count ->
    [one] { $count_text } réponse
   *[other] { $count_text } réponses
}
records-count = { $count ->
    [one] { $count_text } enregistrement
   *[other] { $count_text } enregistrements
}
events-count = { $count ->
    [one] { $count_text } événement
   *[other] { $count_text } événements
}
seconds = { $count ->
    [one] { $count_text } seconde
   *[other] { $count_text } secondes
}

trace-new-title = Tracer une arme
trace-new-intro = Décrivez les marquages de l'arme tels qu'ils y figurent (ISACS 05.31). Seuls les marquages, le fondement et l'usage de la demande sont envoyés ; votre affaire reste sur ce nœud.
trace-not-sent = Le traçage n'a pas été envoyé :
trace-marking = Marquages
trace-maker = Fabricant
trace-maker-hint = Tel que marqué ; les suggestions viennent de la table des fabricants.
trace-country = Pays de fabrication
trace-country-hint = Deux lettres (ISO 3166), par ex. BE.
trace-serial = Numéro de série
trace-serial-hint = Tel que marqué. Écrivez ? pour chaque caractère illisible.
trace-factory-code = Code d'usine
trace-factory-hint = Quand l'arme porte un code d'usine au lieu (ou à côté) du nom du fabricant, par ex. 66.
trace-imports = Marques d'importation
trace-imports-hint = Pays, et année si marquée : BE:2009. Une par marque.
trace-weapon = L'arme
trace-category = Catégorie
trace-calibre = Calibre
trace-model = Modèle
trace-request = La demande
trace-ground = Fondement juridique
trace-use = Usage prévu
trace-urgent = Urgent
trace-justification = Pourquoi c'est urgent
trace-justify-urgent = Indiquez pourquoi le traçage est urgent.
trace-local = Reste sur ce nœud
trace-local-hint = Jamais envoyé à un autre État.
trace-case = Référence de l'affaire
trace-note = Notes
trace-send = Envoyer le traçage
trace-title = Traçage
trace-sent = Envoyé
trace-deadline = Attend les réponses jusqu'au
trace-digest = Requête
trace-officer = Envoyé par
trace-retry = Redemander à ceux qui n'ont pas répondu
trace-evidence = Dossier de preuve
trace-print = Imprimer le rapport de traçage
trace-refresh = Actualiser
trace-status = État

status-sent = envoyé
status-acknowledged = accusé de réception
status-answered = répondu
status-partial = partiel
status-timed-out = délai dépassé

diversion-title = Point de détournement :
diversion-sentence = L'arme a quitté le contrôle légal en { $state }, détenue par { $holder }, lorsqu'elle a été { $event } ({ $date }).
diversion-sentence-no-holder = L'arme a quitté le contrôle légal en { $state } lorsqu'elle a été { $event } ({ $date }).
diversion-sentence-undated = L'arme a quitté le contrôle légal en { $state }.
last-recorded-sentence = Dernière trace en { $state } ({ $date }) ; le sort de l'arme n'a jamais été signalé.
last-recorded-exported = Dernière trace : sortie de { $state } vers { $to } ({ $date }) ; { $to } n'en a aucun enregistrement, et le sort de l'arme n'a jamais été signalé.

holders-title = Détenteurs attendus
holders-none = Aucun membre n'est connu pour détenir des enregistrements sous ce marquage.
holder-answered = a répondu
holder-withheld = réponse retenue : { $reason }
holder-refused = refusé : { $reason } ; peut être redemandé après le { $retry }
holder-declined = décliné : { $reason }
holder-acknowledged = accusé de réception : une personne y décide
holder-awaiting = réponse attendue
holder-unreachable = injoignable depuis le { $since }

answers-title = Réponses
answers-none = Pas encore de réponse.
answers-state = État
answers-received = Reçue
answers-signature = Signature
answers-disclosed = Ce qu'elle divulgue
badge-verified = vérifiée (liste des membres version { $version })
badge-not-verified = non vérifiée : { $reason }
outcome-hit = { $records }, { $events }
outcome-no-hit = aucun enregistrement de cette arme
outcome-withheld = retenue : { $reason }
outcome-acknowledged = reçue ; une personne décide
outcome-too-many = { $count_text } enregistrements correspondent ; précisez le marquage
outcome-refused = refusée
outcome-unreadable = illisible

timeline-title = Chaîne de détention
timeline-none = Aucun événement connu pour l'instant.
source-answer = réponse { $number } de { $state }
source-own-registry = notre registre
map-title = Le parcours de l'arme
map-caption = Les pays traversés par l'arme, dans l'ordre ; le point de détournement en rouge.

gaps-title = Lacunes
gap-withheld = { $state } a retenu sa réponse : { $reason }
gap-withheld-pattern = { $state } a retenu sa réponse à un numéro de série aux caractères illisibles : { $reason }. Cet État détient peut-être cette arme, peut-être pas : un tel numéro n'atteint jamais les enregistrements confidentiels d'un État, et peut correspondre à d'autres armes. Un traçage confidentiel en dit plus, avec un ? pour chaque caractère illisible (un * ne peut pas être tracé en confidentiel), ou interrogez { $state } hors de tracenet
gap-no-answer = { $state } n'a pas répondu
gap-not-a-member = { $state } n'est pas membre de la fédération : les registres continuent là-bas ; interrogez cet État hors de tracenet
gap-mismatch = { $state } a répondu avec des enregistrements d'un autre numéro de série que celui tracé ; ils ne servent pas à la chaîne (demandez pourquoi à { $state })
gap-no-history = { $state } détient un enregistrement de cette arme sans événements : son parcours n'y est pas consigné (interrogez { $state } hors de tracenet)
gap-unreachable = { $state } est injoignable depuis le { $since }
gap-refused = { $state } a refusé : { $reason }
gap-declined = { $state } a décliné : { $reason }
gap-trimmed = la réponse de { $state } a omis { $count } événements pour tenir
gap-ambiguous = { $state } détient { $count } enregistrements qui correspondent
gap-no-holder = Aucun membre ne détient d'enregistrements sous { $prefix }
gap-not-connected = Ce nœud n'était connecté à aucun membre à l'envoi du traçage
gap-no-record = Aucun État ayant répondu ne détient d'enregistrement de cette arme

event-manufactured = fabriquée
event-exported = exportée
event-imported = importée
event-transferred = transférée
event-lost = perdue
event-stolen = volée
event-seized = saisie
event-surrendered = remise
event-deactivated = neutralisée
event-destroyed = détruite

held-by-manufacturer = le fabricant
held-by-state-military = les forces armées
held-by-state-police = la police
held-by-state-other = un autre organisme public
held-by-licensed-dealer = un armurier agréé
held-by-licensed-civilian = un particulier autorisé
held-by-unknown = un détenteur inconnu

category-pistol = pistolet
category-revolver = revolver
category-rifle = fusil
category-carbine = carabine
category-assault-rifle = fusil d'assaut
category-submachine-gun = pistolet-mitrailleur
category-shotgun = fusil de chasse
category-light-machine-gun = mitrailleuse légère
category-heavy-machine-gun = mitrailleuse lourde
category-grenade-launcher = lance-grenades
category-mortar = mortier
category-other = autre

ground-seized-in-crime = saisie lors d'une infraction
ground-illicit-possession = détention illicite
ground-illicit-transfer = transfert illicite
ground-found-abandoned = trouvée ou abandonnée
ground-conflict-recovery = récupérée lors d'un conflit
ground-altered-markings = marquages altérés
ground-other = autre

use-criminal-investigation = enquête pénale
use-judicial-proceedings = procédure judiciaire
use-diversion-analysis = analyse du détournement
use-sanctions-monitoring = contrôle des sanctions
use-other = autre

reason-ongoing-investigation = une enquête en cours
reason-national-law = la loi nationale
reason-other = une autre raison
reason-rate-limited = trop de demandes à la fois
reason-clock-skew = horloges trop décalées
reason-expired = la demande avait expiré
reason-ttl-too-long = la validité de la demande était trop longue
reason-quota-full = trop de demandes en attente
reason-overloaded = le nœud était surchargé
reason-too-large = la demande était trop volumineuse
reason-not-in-roster = absent de la liste des membres

disclose-full = tout
disclose-no-holders = sans catégories de détenteurs
disclose-month = dates au mois près
disclose-year = dates à l'année près
disclose-acknowledge-only = accusé de réception seulement

review-urgent = le traçage est urgent
review-confidential = il correspond à un enregistrement confidentiel
review-outside-groups = le demandeur est hors de nos groupes de partage

quality-exact = exacte
quality-folded = caractères semblables ou accents
quality-transliterated = translittérée
quality-embedded-letters = lettres dans le numéro
quality-wildcard = avec caractères illisibles

inbox-title = Demandes reçues
inbox-intro = Les demandes d'autres États qui attendent la décision d'une personne.
inbox-none = Aucune demande en attente.
inbox-requester = État demandeur
inbox-why = Pourquoi elle attend
inbox-received = Reçue
inbox-deadline = À décider avant le
inbox-matched = Enregistrements correspondants
inbox-matched-hint = Affichés ici seulement : ces détails ne quittent le nœud que si vous approuvez, et seulement au niveau de divulgation choisi.
inbox-no-match = Aucun enregistrement ne correspond.
inbox-disclose = Divulguer
inbox-approve = Approuver
inbox-reason = Motif
inbox-refuse = Refuser
inbox-older = Décisions plus anciennes
inbox-lapsed = Non décidée avant son échéance : le demandeur n'a rien reçu de plus
inbox-approved = Approuvée ({ $level }) le { $at }
inbox-refused = Refusée ({ $reason }) le { $at }

alerts-title = Alertes
alerts-intro = Armes enregistrées ici comme perdues ou volées qu'un autre État a tracées.
alerts-none = Aucune alerte.
alerts-older = Alertes plus anciennes
alerts-at = Quand
alerts-event = Enregistrée ici comme
alerts-more = { $n ->
    [one] Et un autre enregistrement perdu ou volé, tenu ici, correspond à la même trace.
   *[other] Et { $n_text } autres enregistrements perdus ou volés, tenus ici, correspondent à la même trace.
}

registry-title = Registre
registry-holds = Ce registre contient { $count }.
registry-search = Rechercher
registry-none = Aucun enregistrement ne correspond.
registry-quality = Correspondance
registry-reasons = Pourquoi il correspond
record-title = Enregistrement
record-id = Enregistrement
record-local-hint = Enregistrement national : affiché sur ce nœud seulement.
record-confidential = Confidentiel
record-confidential-hint = Une personne décide avant que quoi que ce soit en soit divulgué.
record-life = Vie de l'arme

reports-title = Rapports
reports-csv = Télécharger en CSV
reports-from = Du
reports-to = Au
reports-show = Afficher
reports-period = Du { $from } au { $to }, les deux jours compris. Traçages envoyés par mois : les douze derniers mois qui en comptent.
reports-counts = Traçages et réponses
reports-answer-times = Délai médian de réponse, par État
reports-slowest-answers = Réponse la plus lente, par État
reports-without-final-answer = Traçages clos sans réponse finale, par État
reports-n-of-total = { $n } sur { $total }
reports-no-answers = Pas encore de réponse.
report-hit-rate = Traçages ayant obtenu réponse
report-sdg-traced = ODD 16.4.2 : armes tracées
report-sdg-origin = ODD 16.4.2 : origine établie
report-traces-sent = Traçages envoyés
report-traces-answered = Traçages répondus
report-traces-partial = Traçages en partie répondus
report-traces-timed-out = Traçages hors délai
report-queries-received = Requêtes reçues
report-answers-sent = Réponses envoyées
report-answers-withheld = Réponses retenues
report-traces-open = Traçages encore ouverts
report-queries-refused = Requêtes refusées
report-answers-acknowledged = Réponses accusées (une personne décide)

federation-title = Fédération
federation-roster = Liste des membres
federation-roster-version = version { $version }
federation-roster-until = Liste valide jusqu'au
federation-audit-head = Tête du journal d'audit
federation-verify = Vérifier le journal d'audit
federation-peers = Membres
federation-peer = Pair
federation-connected = Connecté
federation-yes = oui
federation-no = non
federation-not-linked = sans lien permanent (appelé quand une demande de traçage le concerne)
audit-verified = Le journal d'audit est intact : { $count_text } entrées vérifiées.
audit-broken = Le journal d'audit est rompu en { $count_text } endroits. Prévenez l'administrateur du nœud.

date-format = { $day } { $month } { $year }
instant-format = { $date }, { $time } UTC
time-beyond-calendar = temps Unix { $secs } (hors du calendrier : date erronée)
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre

import-title = Importer des enregistrements
import-file = Fichier
import-file-hint = JSON Lines ou CSV, tels que `tracenet registry import` les lit ; jusqu'à 2 Gio.
import-format = Format
import-format-auto = d'après le nom du fichier
import-delimiter = Séparateur CSV
import-encoding = Encodage
import-submit = Importer
import-too-large = Le fichier dépasse ce que la console accepte (2 Gio) ; importez-le avec `tracenet registry import` sur la machine du nœud.
import-no-file = Choisissez un fichier à importer.
import-by = Lancé par { $name }
import-progress = Avancement
import-records-read = { $count_text } enregistrements lus
import-running = L'import est en cours ; cette page s'actualise d'elle-même.
import-failed = L'import s'est arrêté :
import-counts = { $added } ajoutés, { $updated } mis à jour, { $unchanged } inchangés, { $rejected } rejetés.
import-rejected-title = Lignes rejetées
import-line = Ligne
import-field = Champ
import-reason = Pourquoi
import-more-rejected = … et { $count_text } autres lignes rejetées.

nav-officers = Officiers
officers-title = Comptes des officiers
officers-intro = Les comptes de la console de ce nœud. Un officier trace et consulte ; un réviseur décide aussi des demandes reçues ; un administrateur gère aussi le registre et les comptes.
officers-made = Le compte { $name } a ce mot de passe à usage unique :
officers-made-hint = Remettez-le à l'officier en personne. Il n'est affiché qu'une fois et doit être changé à la première connexion.
officers-role = Rôle
officers-since = Depuis
officers-must-change = (mot de passe à usage unique pas encore changé)
officers-reset = Nouveau mot de passe
officers-remove = Supprimer
officers-add = Ajouter un compte
officers-not-yourself = Vous ne pouvez pas supprimer votre propre compte.
officers-exists = Le compte { $name } existe déjà ; son bouton « Nouveau mot de passe » lui en donne un nouveau.
officers-exists-yourself = { $name } est votre propre compte : « Changer de mot de passe », en haut de la page, en change le mot de passe.
officers-missing = Aucun compte { $name } ; la liste ci-dessous montre les comptes.
role-officer = officier
role-reviewer = réviseur
role-admin = administrateur

event-to = vers { $state }
event-from = en provenance de { $state }
event-with = avec { $state }
reports-per-month = Traçages envoyés par mois
reports-missing = Il manque au journal d’audit les entrées { $ranges } (un fichier d’archive supprimé ou renommé, ou les plus anciennes entrées retirées de la base) : les chiffres ne comptent pas celles de cette période. Lancez tracenet audit verify sur le nœud.
import-choose-format = Le nom du fichier n'indique pas son format (.jsonl, .csv ou .tsv) : choisissez-le dans le formulaire.
trace-force = Envoyer même si la table des fabricants ne connaît pas ce fabricant dans ce pays
trace-force-hint = Vérifiez l'orthographe, ou cochez « Envoyer même si la table des fabricants ne connaît pas ce fabricant ».
trace-force-country-hint = Corrigez le pays de fabrication, ou cochez « Envoyer même si la table des fabricants ne connaît pas ce fabricant ».
trace-send-in-clear-hint = Décochez « À l'aveugle : n'envoyer le marquage qu'aux États qui la détiennent » pour l'envoyer en clair, ce que lit chaque détenteur attendu, ou précisez la lecture du numéro de série.
trace-maker-or-code-hint = Indiquez le fabricant, ou le code d'usine lorsque l'arme en porte un à sa place, ou les deux.
trace-model-hint = Gardé avec les notes de l'affaire sur ce nœud ; non envoyé.
trace-confidential = Traçage confidentiel
trace-confidential-box = À l'aveugle : n'envoyer le marquage qu'aux États qui la détiennent
trace-confidential-hint = Les autres membres apprennent seulement qu'un traçage à l'aveugle a été fait pour ce fabricant ; les États qu'on ne peut interroger à l'aveugle attendent votre choix.
blind-title = Interrogés à l'aveugle
blind-asked = Réponse à l'aveugle
blind-received = A reçu le marquage
blind-choose = Certains États n'ont pu être interrogés à l'aveugle. Leurs enregistrements restent non lus sauf si vous leur envoyez le marquage en clair.
blind-send-clear = Leur envoyer le marquage en clair
blind-send-clear-one = À cet État seulement
blind-pending = en attente
blind-unreachable = injoignable
blind-holds-nothing = ne détient rien sous ce préfixe
blind-no-hit = non détenue
blind-hit = la détient : requête envoyée
blind-no-filter = pas de filtre aveugle (nœud plus ancien)
blind-beyond-bound = trop de caractères illisibles pour interroger à l'aveugle
blind-refused = refusé (quota)
blind-failed = échec
traces-older = Traçages plus anciens

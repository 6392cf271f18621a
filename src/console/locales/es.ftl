# Consola del oficial de tracenet: español.

skip-to-content = Ir al contenido
nav-label = Principal
nav-trace = Rastrear un arma
nav-traces = Rastreos
nav-inbox = Solicitudes recibidas
nav-alerts = Alertas
nav-registry = Registro
nav-reports = Informes
nav-federation = Federación
language = Idioma
language-switch = Cambiar
signed-in-as = Sesión de { $name }
password-change = Cambiar la contraseña
sign-out = Cerrar sesión
back-home = Volver a la consola
problem-title = Algo salió mal

error-too-large = El formulario es demasiado grande.
error-csrf = Este formulario no viene de su sesión (falta su código de seguridad o está caducado). Vuelva a cargar la página e inténtelo de nuevo.
error-role = Su función no da acceso a esta página. Pídalo a un administrador si lo necesita.
error-not-found = Esta página no existe.
error-random = El nodo no pudo obtener un número aleatorio. Inténtelo de nuevo; si persiste, avise al administrador del nodo.
error-storage = El nodo no pudo leer o escribir su almacén. Su registro de eventos indica el motivo.
error-audit = No se puede escribir el registro de auditoría, así que no se hizo nada. Avise al administrador del nodo.
error-no-trace = Este rastreo no existe en este nodo.
error-nothing-to-retry = Cada Estado esperado ya dio su respuesta final: no hay nada que volver a pedir.
error-form = Falta un campo del formulario o no es una de las opciones ofrecidas.
error-decision = No se pudo tomar o entregar la decisión. La lista de solicitudes muestra en qué punto está.
error-no-registry = Este nodo no tiene registro.
error-no-record = Este registro no existe.
error-period = El período del informe son dos fechas, AAAA-MM-DD, desde el 1970-01-01, la primera no posterior a la segunda.

login-title = Iniciar sesión
login-intro = Inicie sesión con la cuenta que le dio el administrador de su unidad.
login-name = Nombre del oficial
login-password = Contraseña
login-submit = Iniciar sesión
login-wrong = Nombre o contraseña incorrectos.
login-locked = Demasiados intentos fallidos con este nombre. Inténtelo de nuevo en { $minutes ->
    [one] un minuto
   *[other] { $minutes_text } minutos
}.
login-busy = Demasiados inicios de sesión a la vez en esta consola. Inténtelo de nuevo en un minuto.

password-title = Elija su contraseña
password-first = Inició sesión con una contraseña de un solo uso. Elija la suya antes de continuar.
password-current = Contraseña actual
password-new = Nueva contraseña
password-again = Repita la nueva contraseña
password-submit = Cambiar la contraseña
password-mismatch = Las dos contraseñas nuevas no coinciden.
password-changed = Se ha cambiado su contraseña.
password-current-wrong = La contraseña actual es incorrecta.
password-weak = La nueva contraseña debe tener al menos { $count_text } caracteres.
password-same = La nueva contraseña debe ser distinta de la actual.

traces-title = Rastreos
traces-filter-status = Estado
traces-filter-any = Todos
traces-filter-state = Estado miembro
traces-filter-from = Enviados desde
traces-filter-apply = Filtrar
traces-none = Ningún rastreo coincide.
traces-created = Enviado
traces-marking = Marcaje
traces-status = Estado
traces-states = Tenedores esperados
traces-answers = Respuestas
answers-count = { $count ->
    [one] { $count_text } respuesta
   *[other] { $count_text } respuestas
}
records-count = { $count ->
    [one] { $count_text } registro
   *[other] { $count_text } registros
}
events-count = { $count ->
    [one] { $count_text } evento
   *[other] { $count_text } eventos
}
seconds = { $count ->
    [one] { $count_text } segundo
   *[other] { $count_text } segundos
}

trace-new-title = Rastrear un arma
trace-new-intro = Describa los marcajes del arma tal como aparecen en ella (ISACS 05.31). Solo se envían los marcajes y el fundamento y uso de la solicitud; su caso se queda en este nodo.
trace-not-sent = El rastreo no se envió:
trace-marking = Marcajes
trace-maker = Fabricante
trace-maker-hint = Tal como está marcado; las sugerencias vienen de la tabla de fabricantes.
trace-country = País de fabricación
trace-country-hint = Dos letras (ISO 3166), p. ej. BE.
trace-serial = Número de serie
trace-serial-hint = Tal como está marcado. Escriba ? por cada carácter ilegible.
trace-factory-code = Código de fábrica
trace-factory-hint = Cuando el arma lleva un código de fábrica en lugar (o al lado) del nombre del fabricante, p. ej. 66.
trace-imports = Marcas de importación
trace-imports-hint = País, y año si está marcado: BE:2009. Una por marca.
trace-weapon = El arma
trace-category = Categoría
trace-calibre = Calibre
trace-model = Modelo
trace-request = La solicitud
trace-ground = Fundamento jurídico
trace-use = Uso previsto
trace-urgent = Urgente
trace-justification = Por qué es urgente
trace-justify-urgent = Indique por qué el rastreo es urgente.
trace-local = Se queda en este nodo
trace-local-hint = Nunca se envía a otro Estado.
trace-case = Referencia del caso
trace-note = Notas
trace-send = Enviar el rastreo
trace-title = Rastreo
trace-sent = Enviado
trace-deadline = Espera respuestas hasta el
trace-digest = Consulta
trace-officer = Enviado por
trace-retry = Volver a preguntar a quienes no respondieron
trace-evidence = Expediente de prueba
trace-print = Imprimir el informe de rastreo
trace-refresh = Actualizar
trace-status = Estado

status-sent = enviado
status-acknowledged = acuse de recibo
status-answered = respondido
status-partial = parcial
status-timed-out = plazo vencido

diversion-title = Punto de desvío:
diversion-sentence = El arma salió del control legal en { $state }, en manos de { $holder }, cuando fue { $event } ({ $date }).
diversion-sentence-no-holder = El arma salió del control legal en { $state } cuando fue { $event } ({ $date }).
diversion-sentence-undated = El arma salió del control legal en { $state }.
last-recorded-sentence = Último registro en { $state } ({ $date }); nunca se informó qué fue del arma.
last-recorded-exported = Último registro: salida de { $state } hacia { $to } ({ $date }); { $to } no tiene registro de ella y nunca se informó qué fue del arma.

holders-title = Tenedores esperados
holders-none = No se conoce a ningún miembro con registros bajo este marcaje.
holder-answered = respondió
holder-withheld = respuesta retenida: { $reason }
holder-refused = rechazado: { $reason }; puede volver a preguntarse después del { $retry }
holder-declined = declinado: { $reason }
holder-acknowledged = acuse de recibo: allí decide una persona
holder-awaiting = respuesta pendiente
holder-unreachable = inalcanzable desde el { $since }

answers-title = Respuestas
answers-none = Aún no hay respuestas.
answers-state = Estado
answers-received = Recibida
answers-signature = Firma
answers-disclosed = Lo que revela
badge-verified = verificada (lista de miembros versión { $version })
badge-not-verified = no verificada: { $reason }
outcome-hit = { $records }, { $events }
outcome-no-hit = ningún registro de esta arma
outcome-withheld = retenida: { $reason }
outcome-acknowledged = recibida; decide una persona
outcome-too-many = coinciden { $count_text } registros; precise el marcaje
outcome-refused = rechazada
outcome-unreadable = ilegible

timeline-title = Cadena de custodia
timeline-none = Aún no se conoce ningún evento.
source-answer = respuesta { $number } de { $state }
source-own-registry = nuestro registro
map-title = El recorrido del arma
map-caption = Los países por los que pasó el arma, en orden; el punto de desvío en rojo.

gaps-title = Lagunas
gap-withheld = { $state } retuvo su respuesta: { $reason }
gap-withheld-pattern = { $state } retuvo su respuesta a un número de serie con caracteres ilegibles: { $reason }. Puede tener esta arma o no: un número así nunca alcanza los registros confidenciales de un Estado, y puede coincidir con registros de otras armas. Un rastreo confidencial dice más, con un ? por cada carácter ilegible (un * no se puede rastrear de forma confidencial), o consulte a { $state } fuera de tracenet
gap-no-answer = { $state } no ha respondido
gap-not-a-member = { $state } no es miembro de la federación: los registros continúan allí; consulte a ese Estado fuera de tracenet
gap-mismatch = { $state } respondió con registros de otro número de serie que el rastreado; no se usan en la cadena (pregunte a { $state } por qué)
gap-no-history = { $state } tiene un registro de esta arma sin eventos: su recorrido no consta allí (pregunte a { $state } fuera de tracenet)
gap-unreachable = { $state } está inalcanzable desde el { $since }
gap-refused = { $state } rechazó: { $reason }
gap-declined = { $state } declinó: { $reason }
gap-trimmed = la respuesta de { $state } omitió { $count } eventos para caber
gap-ambiguous = { $state } tiene { $count } registros que coinciden
gap-no-holder = Ningún miembro tiene registros bajo { $prefix }
gap-not-connected = Este nodo no estaba conectado a ningún miembro al enviar el rastreo
gap-no-record = Ningún Estado que respondió tiene registro de esta arma

event-manufactured = fabricada
event-exported = exportada
event-imported = importada
event-transferred = transferida
event-lost = perdida
event-stolen = robada
event-seized = incautada
event-surrendered = entregada
event-deactivated = inutilizada
event-destroyed = destruida

held-by-manufacturer = el fabricante
held-by-state-military = las fuerzas armadas
held-by-state-police = la policía
held-by-state-other = otro organismo del Estado
held-by-licensed-dealer = un comerciante autorizado
held-by-licensed-civilian = un civil con licencia
held-by-unknown = un tenedor desconocido

category-pistol = pistola
category-revolver = revólver
category-rifle = fusil
category-carbine = carabina
category-assault-rifle = fusil de asalto
category-submachine-gun = subfusil
category-shotgun = escopeta
category-light-machine-gun = ametralladora ligera
category-heavy-machine-gun = ametralladora pesada
category-grenade-launcher = lanzagranadas
category-mortar = mortero
category-other = otra

ground-seized-in-crime = incautada en un delito
ground-illicit-possession = tenencia ilícita
ground-illicit-transfer = transferencia ilícita
ground-found-abandoned = hallada o abandonada
ground-conflict-recovery = recuperada en un conflicto
ground-altered-markings = marcajes alterados
ground-other = otro

use-criminal-investigation = investigación penal
use-judicial-proceedings = procedimiento judicial
use-diversion-analysis = análisis del desvío
use-sanctions-monitoring = vigilancia de sanciones
use-other = otro

reason-ongoing-investigation = una investigación en curso
reason-national-law = la ley nacional
reason-other = otro motivo
reason-rate-limited = demasiadas solicitudes a la vez
reason-clock-skew = relojes demasiado desfasados
reason-expired = la solicitud había caducado
reason-ttl-too-long = la validez de la solicitud era demasiado larga
reason-quota-full = demasiadas solicitudes pendientes
reason-overloaded = el nodo estaba sobrecargado
reason-too-large = la solicitud era demasiado grande
reason-not-in-roster = fuera de la lista de miembros

disclose-full = todo
disclose-no-holders = sin categorías de tenedor
disclose-month = fechas al mes
disclose-year = fechas al año
disclose-acknowledge-only = solo acuse de recibo

review-urgent = el rastreo es urgente
review-confidential = coincide con un registro confidencial
review-outside-groups = el solicitante está fuera de nuestros grupos de intercambio

quality-exact = exacta
quality-folded = caracteres parecidos o acentos
quality-transliterated = transliterada
quality-embedded-letters = letras en el número
quality-wildcard = con caracteres ilegibles

inbox-title = Solicitudes recibidas
inbox-intro = Solicitudes de otros Estados que esperan la decisión de una persona.
inbox-none = No hay solicitudes pendientes.
inbox-requester = Estado solicitante
inbox-why = Por qué espera
inbox-received = Recibida
inbox-deadline = Decidir antes del
inbox-matched = Registros que coinciden
inbox-matched-hint = Solo se muestran aquí: estos datos no salen del nodo salvo que usted apruebe, y solo según el nivel de divulgación.
inbox-no-match = Ningún registro coincide.
inbox-disclose = Divulgar
inbox-approve = Aprobar
inbox-reason = Motivo
inbox-refuse = Rechazar
inbox-older = Decisiones anteriores
inbox-lapsed = No decidida antes de su plazo: el solicitante no recibió nada más
inbox-approved = Aprobada ({ $level }) el { $at }
inbox-refused = Rechazada ({ $reason }) el { $at }

alerts-title = Alertas
alerts-intro = Armas registradas aquí como perdidas o robadas que otro Estado ha rastreado.
alerts-none = No hay alertas.
alerts-older = Alertas anteriores
alerts-at = Cuándo
alerts-event = Registrada aquí como
alerts-more = { $n ->
    [one] Y un registro más, perdido o robado según este registro, coincide con el mismo rastreo.
   *[other] Y { $n_text } registros más, perdidos o robados según este registro, coinciden con el mismo rastreo.
}

registry-title = Registro
registry-holds = Este registro contiene { $count }.
registry-search = Buscar
registry-none = Ningún registro coincide.
registry-quality = Coincidencia
registry-reasons = Por qué coincide
record-title = Registro
record-id = Registro
record-local-hint = Registro nacional: solo se muestra en este nodo.
record-confidential = Confidencial
record-confidential-hint = Una persona decide antes de que se divulgue algo de él.
record-life = Vida del arma

reports-title = Informes
reports-csv = Descargar en CSV
reports-from = Desde
reports-to = Hasta
reports-show = Mostrar
reports-period = Del { $from } al { $to }, ambos días incluidos. Rastreos enviados por mes: los últimos doce meses que tuvieron alguno.
reports-counts = Rastreos y respuestas
reports-answer-times = Tiempo mediano de respuesta, por Estado
reports-slowest-answers = Respuesta más lenta, por Estado
reports-without-final-answer = Rastreos cerrados sin respuesta final, por Estado
reports-n-of-total = { $n } de { $total }
reports-no-answers = Aún no hay respuestas.
report-hit-rate = Rastreos respondidos
report-sdg-traced = ODS 16.4.2: armas rastreadas
report-sdg-origin = ODS 16.4.2: origen establecido
report-traces-sent = Rastreos enviados
report-traces-answered = Rastreos respondidos
report-traces-partial = Rastreos respondidos en parte
report-traces-timed-out = Rastreos vencidos
report-queries-received = Consultas recibidas
report-answers-sent = Respuestas enviadas
report-answers-withheld = Respuestas retenidas
report-traces-open = Rastreos aún abiertos
report-queries-refused = Consultas rechazadas
report-answers-acknowledged = Respuestas con acuse (decide una persona)

federation-title = Federación
federation-roster = Lista de miembros
federation-roster-version = versión { $version }
federation-roster-until = Lista válida hasta el
federation-audit-head = Cabeza del registro de auditoría
federation-verify = Verificar el registro de auditoría
federation-peers = Miembros
federation-peer = Par
federation-connected = Conectado
federation-yes = sí
federation-no = no
federation-not-linked = sin enlace permanente (se le llama cuando un rastreo lo requiere)
audit-verified = El registro de auditoría está intacto: { $count_text } entradas verificadas.
audit-broken = El registro de auditoría está roto en { $count_text } puntos. Avise al administrador del nodo.

date-format = { $day } de { $month } de { $year }
instant-format = { $date }, { $time } UTC
time-beyond-calendar = tiempo Unix { $secs } (fuera del calendario: fecha errónea)
month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre

import-title = Importar registros
import-file = Archivo
import-file-hint = JSON Lines o CSV, tal como los lee `tracenet registry import`; hasta 2 GiB.
import-format = Formato
import-format-auto = según el nombre del archivo
import-delimiter = Separador CSV
import-encoding = Codificación
import-submit = Importar
import-too-large = El archivo supera lo que acepta la consola (2 GiB); impórtelo con `tracenet registry import` en la máquina del nodo.
import-no-file = Elija un archivo para importar.
import-by = Iniciada por { $name }
import-progress = Avance
import-records-read = { $count_text } registros leídos
import-running = La importación está en curso; esta página se actualiza sola.
import-failed = La importación se detuvo:
import-counts = { $added } añadidos, { $updated } actualizados, { $unchanged } sin cambios, { $rejected } rechazados.
import-rejected-title = Líneas rechazadas
import-line = Línea
import-field = Campo
import-reason = Por qué
import-more-rejected = … y { $count_text } líneas rechazadas más.

nav-officers = Oficiales
officers-title = Cuentas de los oficiales
officers-intro = Las cuentas de la consola de este nodo. Un oficial rastrea y consulta; un revisor también decide las solicitudes; un administrador también gestiona el registro y las cuentas.
officers-made = La cuenta { $name } tiene esta contraseña de un solo uso:
officers-made-hint = Entréguesela al oficial en persona. Solo se muestra ahora y debe cambiarse en el primer inicio de sesión.
officers-role = Función
officers-since = Desde
officers-must-change = (contraseña de un solo uso aún sin cambiar)
officers-reset = Nueva contraseña
officers-remove = Eliminar
officers-add = Añadir una cuenta
officers-not-yourself = No puede eliminar su propia cuenta.
officers-exists = La cuenta { $name } ya existe; su botón «Nueva contraseña» le da una nueva.
officers-exists-yourself = { $name } es su propia cuenta: «Cambiar la contraseña», arriba en la página, cambia su contraseña.
officers-missing = No hay ninguna cuenta { $name }; la lista de abajo muestra las cuentas.
role-officer = oficial
role-reviewer = revisor
role-admin = administrador

event-to = a { $state }
event-from = desde { $state }
event-with = con { $state }
reports-per-month = Rastreos enviados por mes
reports-missing = Al registro de auditoría le faltan las entradas { $ranges } (un archivo del archivo histórico eliminado o renombrado, o las entradas más antiguas quitadas del almacén): las cifras no cuentan las de este período. Ejecute tracenet audit verify en el nodo.
import-choose-format = El nombre del archivo no indica su formato (.jsonl, .csv o .tsv): elíjalo en el formulario.
trace-force = Enviar aunque la tabla de fabricantes no conozca a este fabricante en este país
trace-force-hint = Revise la ortografía, o marque «Enviar aunque la tabla de fabricantes no conozca a este fabricante».
trace-force-country-hint = Corrija el país de fabricación, o marque «Enviar aunque la tabla de fabricantes no conozca a este fabricante».
trace-send-in-clear-hint = Desmarque «A ciegas: enviar el marcaje solo a los Estados que la tienen» para enviarlo en claro, que lee cada poseedor esperado, o precise la lectura del número de serie.
trace-maker-or-code-hint = Indique el fabricante, o el código de fábrica cuando el arma lleve uno en su lugar, o ambos.
trace-model-hint = Se guarda con las notas del caso en este nodo; no se envía.
trace-confidential = Rastreo confidencial
trace-confidential-box = A ciegas: enviar el marcaje solo a los Estados que la tienen
trace-confidential-hint = Los demás miembros solo saben que se hizo un rastreo a ciegas para este fabricante; los Estados a los que no se puede preguntar a ciegas esperan su decisión.
blind-title = Consultados a ciegas
blind-asked = Respuesta a ciegas
blind-received = Recibió el marcaje
blind-choose = A algunos Estados no se les pudo preguntar a ciegas. Sus registros quedan sin leer salvo que les envíe el marcaje en claro.
blind-send-clear = Enviarles el marcaje en claro
blind-send-clear-one = Solo a este Estado
blind-pending = pendiente
blind-unreachable = inalcanzable
blind-holds-nothing = no tiene nada bajo este prefijo
blind-no-hit = no la tiene
blind-hit = la tiene: consulta enviada
blind-no-filter = sin filtro ciego (nodo anterior)
blind-beyond-bound = demasiados caracteres ilegibles para preguntar a ciegas
blind-refused = rechazado (cupo)
blind-failed = fallido
traces-older = Rastreos anteriores

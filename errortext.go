package envoi

// Text is a message and a remedy for a person, in one language.
type Text struct {
	Message string
	Remedy  string
}

// catalogue holds, for each code, the seed's wording turned into a message
// and a remedy in English, French and Spanish.
var catalogue = map[string]map[string]Text{
	EMailSettingNotFound: {
		"en": {"No mail setting for this document flow", "Create the mail setting for this document flow (Mail settings screen, or PUT /v1/mail-settings/{document_flow})."},
		"fr": {"Tra_Item_Introuvable Paramétrage d'envoi mail : aucun paramétrage pour ce flux", "Créez la ligne de ce flux dans la codification Paramétrage des envois mail."},
		"es": {"No hay configuración de correo para este flujo de documentos", "Cree la configuración de envío de correo para este flujo de documentos."},
	},
	EDocumentFlowNotFound: {
		"en": {"No document flow of this code in the catalogue", "Check the document_flow code (GET /v1/document-flows lists them), or add the document flow to the catalogue first."},
		"fr": {"Aucun flux de document de ce code dans le catalogue", "Vérifiez le code document_flow (GET /v1/document-flows les liste), ou ajoutez d'abord ce flux au catalogue."},
		"es": {"No hay ningún flujo de documentos con este código en el catálogo", "Compruebe el código document_flow (GET /v1/document-flows los lista), o añada primero el flujo al catálogo."},
	},
	ENoFlowForOperator: {
		"en": {"No authentication flow found for this operator", "Assign the operator, or their group, to an authentication flow."},
		"fr": {"Aucun flux trouvé pour l'utilisateur connecté", "Dans la codification Flux d'authentification, ajoutez l'opérateur (ou son groupe) au flux qui lui correspond."},
		"es": {"No se encontró ningún flujo de autenticación para este usuario", "Asigne el usuario, o su grupo, a un flujo de autenticación."},
	},
	EAttachmentsTooBig: {
		"en": {"Attachments too big", "Reduce the attached files: their total exceeds the limit set on the authentication flow."},
		"fr": {"Pièces jointes trop volumineuses", "Réduisez le nombre ou la taille des fichiers liés : leur total dépasse la limite (Mo) du flux d'authentification."},
		"es": {"Archivos adjuntos demasiado grandes", "Reduzca los archivos adjuntos: su total supera el límite del flujo de autenticación."},
	},
	EOperatorNotInFlow: {
		"en": {"The operator is not assigned to this flow", "Add the operator (or their group) to the flow being tested."},
		"fr": {"Com_Authentification_UserSansFlux : l'opérateur n'est pas affecté à ce flux", "Ajoutez l'opérateur (ou son groupe) à la liste des opérateurs du flux testé."},
		"es": {"El usuario no está asignado a este flujo", "Agregue el usuario (o su grupo) al flujo que se está probando."},
	},
	EInvalidFlowData: {
		"en": {"Invalid data", "Correct the field named in the details, then save again."},
		"fr": {"Données non valides", "Corrigez le champ indiqué dans le détail puis enregistrez à nouveau. Le client secret n'est pas réaffiché : saisissez-le de nouveau s'il a changé."},
		"es": {"Datos no válidos", "Corrija el campo indicado en el detalle y guarde de nuevo."},
	},
	EReportMissingParameters: {
		"en": {"Missing parameter values", "Provide the report parameters named in the details, or check that the report suits this document flow."},
		"fr": {"Valeurs de paramètre manquantes", "Fournissez les paramètres de l'état indiqués dans le détail, ou vérifiez la compatibilité de l'état avec la diffusion utilisée."},
		"es": {"Faltan valores de parámetros", "Proporcione los parámetros del reporte indicados en el detalle, o verifique que el reporte corresponda a este flujo."},
	},
	EConsentRequired: {
		"en": {"The token is no longer valid: consent again", "Click Authenticate for this operator (or the flow's shared mailbox) and sign in again with the provider."},
		"fr": {"Le jeton n'est plus valide : il faut redonner son accord", "Cliquez sur Authentifier pour cet opérateur (ou la boîte générique du flux) et reconnectez-vous chez le fournisseur."},
		"es": {"El token ya no es válido: vuelva a autorizar", "Haga clic en Autenticar para este usuario (o el buzón genérico del flujo) e inicie sesión de nuevo con el proveedor."},
	},
	EMessageBodyPruned: {
		"en": {"The message's body is no longer kept", "Its body was removed by the retention setting (--body-retention); read the archived document (GET /v1/archive) or send the document again."},
		"fr": {"Le corps du message n'est plus conservé", "Il a été supprimé par la durée de conservation (--body-retention) ; consultez le document archivé (GET /v1/archive) ou renvoyez le document."},
		"es": {"El cuerpo del mensaje ya no se conserva", "Se eliminó por el plazo de conservación (--body-retention); consulte el documento archivado (GET /v1/archive) o envíe el documento de nuevo."},
	},
	EDeliveryAbandoned: {
		"en": {"The message was being sent several times and each attempt ended without an outcome (the service stopped mid-send)", "Check envoi's logs around those times (a crash, a restart, a server that never answers); once the cause is fixed, retry the message."},
		"fr": {"L'envoi du message a été tenté plusieurs fois et chaque tentative s'est interrompue sans résultat (le service s'est arrêté en cours d'envoi)", "Consultez les journaux d'envoi autour de ces heures (arrêt brutal, redémarrage, serveur qui ne répond jamais) ; une fois la cause corrigée, relancez le message."},
		"es": {"Se intentó enviar el mensaje varias veces y cada intento terminó sin resultado (el servicio se detuvo durante el envío)", "Revise los registros de envoi en esos momentos (una caída, un reinicio, un servidor que nunca responde); cuando la causa esté corregida, reintente el mensaje."},
	},
	EKeywordMissing: {
		"en": {"A keyword has no value", "Send a value for each keyword named in the details, in the context of the message."},
		"fr": {"Un mot clé n'a pas de valeur", "Fournissez dans le contexte de l'envoi une valeur pour chaque mot clé indiqué."},
		"es": {"Una palabra clave no tiene valor", "Envíe en el contexto del mensaje un valor para cada palabra clave indicada."},
	},
	EUnknownKeyword: {
		"en": {"Unknown keyword for this document flow", "Use only the keywords the document flow declares, or add the keyword to the document flow."},
		"fr": {"Mot clé inconnu pour ce flux", "N'utilisez que les mots clés déclarés par le flux, ou ajoutez le mot clé au flux."},
		"es": {"Palabra clave desconocida para este flujo", "Use solo las palabras clave que declara el flujo de documentos, o agréguela al flujo."},
	},
	EInvalidInput: {
		"en": {"Invalid input", "Correct the field named in the details."},
		"fr": {"Saisie non valide", "Corrigez le champ indiqué dans le détail."},
		"es": {"Entrada no válida", "Corrija el campo indicado en el detalle."},
	},
	ENotFound: {
		"en": {"Not found", "Check the code or identifier; it may not exist yet."},
		"fr": {"Introuvable", "Vérifiez le code ou l'identifiant ; il n'existe peut-être pas encore."},
		"es": {"No encontrado", "Verifique el código o el identificador; puede que aún no exista."},
	},
	EMessageAlreadySent: {
		"en": {"This message was already sent", "Nothing to retry: the server accepted it (see sent_at). To send the document again, make a new send request with a new Idempotency-Key."},
		"fr": {"Ce message a déjà été envoyé", "Rien à relancer : le serveur l'a accepté (voir sent_at). Pour renvoyer le document, faites une nouvelle demande d'envoi avec une nouvelle Idempotency-Key."},
		"es": {"Este mensaje ya se envió", "No hay nada que reintentar: el servidor lo aceptó (vea sent_at). Para enviar de nuevo el documento, haga una nueva solicitud de envío con otra Idempotency-Key."},
	},
	EConflict: {
		"en": {"Conflicting change", "Reload and try again: someone else changed this at the same time."},
		"fr": {"Modification concurrente", "Rechargez puis réessayez : une autre modification a eu lieu en même temps."},
		"es": {"Cambio en conflicto", "Recargue e intente de nuevo: alguien más lo modificó al mismo tiempo."},
	},
	EIdempotencyConflict: {
		"en": {"This Idempotency-Key was already used with another request", "Use a new Idempotency-Key for a different message."},
		"fr": {"Cette Idempotency-Key a déjà servi pour une autre requête", "Utilisez une nouvelle Idempotency-Key pour un message différent."},
		"es": {"Esta Idempotency-Key ya se usó con otra solicitud", "Use una nueva Idempotency-Key para un mensaje distinto."},
	},
	EUnauthorized: {
		"en": {"Authentication required", "Send a valid API key as Authorization: Bearer <key>, or sign in."},
		"fr": {"Authentification requise", "Envoyez une clé d'API valide (Authorization: Bearer <clé>) ou connectez-vous."},
		"es": {"Autenticación requerida", "Envíe una clave de API válida (Authorization: Bearer <clave>) o inicie sesión."},
	},
	EForbidden: {
		"en": {"Not allowed", "Ask an administrator for access."},
		"fr": {"Action non autorisée", "Demandez l'accès à un administrateur."},
		"es": {"Acción no permitida", "Solicite acceso a un administrador."},
	},
	ETooLarge: {
		"en": {"Request too large", "Send a smaller request; the limit is in the details."},
		"fr": {"Requête trop volumineuse", "Envoyez une requête plus petite ; la limite est indiquée dans le détail."},
		"es": {"Solicitud demasiado grande", "Envíe una solicitud más pequeña; el límite está en el detalle."},
	},
	EUnavailable: {
		"en": {"Service temporarily unavailable", "Try again in a moment; nothing was accepted."},
		"fr": {"Service momentanément indisponible", "Réessayez dans un instant ; rien n'a été accepté."},
		"es": {"Servicio no disponible temporalmente", "Intente de nuevo en un momento; no se aceptó nada."},
	},
	EInternal: {
		"en": {"Internal error", "Try again; if it persists, send the server log to your administrator."},
		"fr": {"Erreur interne", "Réessayez ; si l'erreur persiste, transmettez le journal du serveur à votre administrateur."},
		"es": {"Error interno", "Intente de nuevo; si persiste, envíe el registro del servidor a su administrador."},
	},
	EConsentWrongMailbox: {
		"en": {"Consent was given with another mailbox", "Sign in with the operator's own address (or the flow's shared address), not another account."},
		"fr": {"L'accord a été donné avec une autre boîte mail", "Connectez-vous avec l'adresse de l'opérateur (ou l'adresse générique du flux), pas avec un autre compte."},
		"es": {"La autorización se dio con otro buzón", "Inicie sesión con la dirección del usuario (o la dirección genérica del flujo), no con otra cuenta."},
	},
	EOAuthState: {
		"en": {"The sign-in link is invalid or expired", "Start the authentication again from envoi; a link works once, for 10 minutes."},
		"fr": {"Le lien de connexion est invalide ou expiré", "Relancez l'authentification depuis envoi ; un lien ne sert qu'une fois, pendant 10 minutes."},
		"es": {"El enlace de inicio de sesión no es válido o expiró", "Inicie de nuevo la autenticación desde envoi; un enlace sirve una vez, durante 10 minutos."},
	},
	EOAuthProvider: {
		"en": {"The identity provider refused the request", "Read the provider's text in the details; check the client ID, secret, tenant and scope of the flow."},
		"fr": {"Le fournisseur d'identité a refusé la demande", "Lisez le texte du fournisseur dans le détail ; vérifiez client ID, secret, tenant et scope du flux."},
		"es": {"El proveedor de identidad rechazó la solicitud", "Lea el texto del proveedor en el detalle; verifique client ID, secreto, tenant y scope del flujo."},
	},
	EOAuthRedirectMismatch: {
		"en": {"The redirect URI does not match the app registration", "Register envoi's redirect URI exactly as shown (scheme, host, port, path) in the provider's app registration; behind a reverse proxy set --public-url."},
		"fr": {"L'URI de redirection ne correspond pas à l'application enregistrée", "Déclarez l'URI de redirection d'envoi exactement telle qu'affichée dans l'application chez le fournisseur ; derrière un proxy, réglez --public-url."},
		"es": {"La URI de redirección no coincide con el registro de la aplicación", "Registre la URI de redirección de envoi exactamente como se muestra en la aplicación del proveedor; detrás de un proxy, configure --public-url."},
	},
	EOAuthInvalidClient: {
		"en": {"The provider refused the client's credentials", "Check the client ID and secret (a secret expires: create a new one in the provider's app registration and enter it in the flow). If they are right, the provider may not accept how they are sent: set the flow's token_auth_method to auto, client_secret_basic or client_secret_post, or none for a public client."},
		"fr": {"Le fournisseur a refusé les identifiants du client", "Vérifiez le client ID et le client secret (un secret expire : créez-en un nouveau chez le fournisseur et saisissez-le dans le flux). S'ils sont justes, le fournisseur n'accepte peut-être pas leur mode d'envoi : réglez le token_auth_method du flux sur auto, client_secret_basic ou client_secret_post, ou none pour un client public."},
		"es": {"El proveedor rechazó las credenciales del cliente", "Compruebe el ID y el secreto de cliente (un secreto caduca: cree uno nuevo en el registro de la aplicación y escríbalo en el flujo). Si son correctos, puede que el proveedor no acepte cómo se envían: ajuste el token_auth_method del flujo a auto, client_secret_basic o client_secret_post, o none para un cliente público."},
	},
	ESMTPAuthDisabled: {
		"en": {"SMTP AUTH is disabled for the tenant or mailbox", "In Microsoft 365, an administrator must enable Authenticated SMTP for this mailbox (Exchange admin center > mailbox > Manage email apps) or for the tenant (Set-TransportConfig -SmtpClientAuthenticationDisabled $false). Or move the flow to the graph transport, which sends through Microsoft Graph without SMTP AUTH: its scope becomes https://graph.microsoft.com/Mail.Send offline_access (https://graph.microsoft.com/.default with the Mail.Send application permission for app-only), and each mailbox consents again."},
		"fr": {"SMTP AUTH est désactivé pour le tenant ou la boîte", "Dans Microsoft 365, un administrateur doit activer SMTP authentifié pour cette boîte (centre d'administration Exchange > boîte > Gérer les applications de messagerie) ou pour le tenant. Ou passez le flux au transport graph, qui envoie par Microsoft Graph sans SMTP AUTH : sa portée devient https://graph.microsoft.com/Mail.Send offline_access (https://graph.microsoft.com/.default avec la permission d'application Mail.Send en app-only), et chaque boîte donne de nouveau son consentement."},
		"es": {"SMTP AUTH está deshabilitado para el tenant o el buzón", "En Microsoft 365, un administrador debe habilitar SMTP autenticado para este buzón o para el tenant. O cambie el flujo al transporte graph, que envía por Microsoft Graph sin SMTP AUTH: su ámbito pasa a ser https://graph.microsoft.com/Mail.Send offline_access (https://graph.microsoft.com/.default con el permiso de aplicación Mail.Send para app-only), y cada buzón debe dar su consentimiento de nuevo."},
	},
	EAPIAccessDenied: {
		"en": {"The provider refused to send as this mailbox", "Grant the permission: for Microsoft Graph, the Mail.Send permission (delegated, or application with the mailbox in scope of Exchange's RBAC for Applications) and Send As on a shared mailbox; for the Gmail API, the gmail.send scope (domain-wide delegation for a service account). Then run the flow's Test."},
		"fr": {"Le fournisseur a refusé d'envoyer au nom de cette boîte", "Accordez la permission : pour Microsoft Graph, Mail.Send (déléguée, ou d'application avec la boîte dans le périmètre RBAC d'Exchange) et Envoyer en tant que sur une boîte partagée ; pour l'API Gmail, la portée gmail.send (délégation à l'échelle du domaine pour un compte de service). Puis lancez le Test du flux."},
		"es": {"El proveedor rechazó enviar como este buzón", "Conceda el permiso: para Microsoft Graph, Mail.Send (delegado, o de aplicación con el buzón en el ámbito RBAC de Exchange) y Enviar como en un buzón compartido; para la API de Gmail, el ámbito gmail.send (delegación en todo el dominio para una cuenta de servicio). Luego ejecute la Prueba del flujo."},
	},
	EAPIMailboxNotEnabled: {
		"en": {"The mailbox cannot be used through the mail API", "Microsoft Graph answers MailboxNotEnabledForRESTAPI for a mailbox that is on-premises, unlicensed or inactive: send from an Exchange Online mailbox (a shared mailbox needs no licence but must exist in Exchange Online), or use the smtp transport."},
		"fr": {"La boîte n'est pas utilisable par l'API de messagerie", "Microsoft Graph répond MailboxNotEnabledForRESTAPI pour une boîte sur site, sans licence ou inactive : envoyez depuis une boîte Exchange Online (une boîte partagée n'a pas besoin de licence mais doit exister dans Exchange Online), ou utilisez le transport smtp."},
		"es": {"El buzón no se puede usar con la API de correo", "Microsoft Graph responde MailboxNotEnabledForRESTAPI para un buzón local, sin licencia o inactivo: envíe desde un buzón de Exchange Online, o use el transporte smtp."},
	},
	EAPIMessageTooBig: {
		"en": {"The provider refused the message's size", "Reduce the attachments: Microsoft 365 takes 35 MB by default (150 MB at most, set by the administrator), Gmail 35 MB. Lower the flow's maximum attachments size to match."},
		"fr": {"Le fournisseur a refusé la taille du message", "Réduisez les pièces jointes : Microsoft 365 accepte 35 Mo par défaut (150 Mo au plus, réglé par l'administrateur), Gmail 35 Mo. Ajustez la taille maximale des pièces jointes du flux."},
		"es": {"El proveedor rechazó el tamaño del mensaje", "Reduzca los adjuntos: Microsoft 365 acepta 35 MB por defecto (150 MB como máximo), Gmail 35 MB. Ajuste el tamaño máximo de adjuntos del flujo."},
	},
	EAPIThrottled: {
		"en": {"The provider asked to wait", "Nothing to do: the message waits for the time the provider asked and is sent then. If it happens often, lower the flow's rate per minute."},
		"fr": {"Le fournisseur a demandé d'attendre", "Rien à faire : le message attend le délai demandé par le fournisseur puis part. Si cela se répète, baissez le débit par minute du flux."},
		"es": {"El proveedor pidió esperar", "Nada que hacer: el mensaje espera el tiempo que pidió el proveedor y se envía entonces. Si ocurre a menudo, reduzca el ritmo por minuto del flujo."},
	},
	EAPIUnavailable: {
		"en": {"The mail API could not be reached", "The message is tried again later. If it lasts, check the flow's api_url and the network path to it."},
		"fr": {"L'API de messagerie est injoignable", "Le message sera retenté plus tard. Si cela dure, vérifiez l'api_url du flux et l'accès réseau."},
		"es": {"No se pudo contactar con la API de correo", "El mensaje se reintentará más tarde. Si persiste, verifique el api_url del flujo y la red."},
	},
	EAPIRejected: {
		"en": {"The mail API refused the message", "Read the provider's text in the details; correct the message or the flow, then send again."},
		"fr": {"L'API de messagerie a refusé le message", "Lisez le texte du fournisseur dans le détail ; corrigez le message ou le flux, puis renvoyez."},
		"es": {"La API de correo rechazó el mensaje", "Lea el texto del proveedor en el detalle; corrija el mensaje o el flujo y vuelva a enviar."},
	},
	ESMTPAuthFailed: {
		"en": {"The mail server refused the authentication", "Check the password (basic SMTP) or, for OAuth, the scope, the app's consent and API permissions; then Test the flow."},
		"fr": {"Le serveur de messagerie a refusé l'authentification", "Vérifiez le mot de passe (SMTP basique) ou, en OAuth, le scope, le consentement et les permissions de l'application ; puis testez le flux."},
		"es": {"El servidor de correo rechazó la autenticación", "Verifique la contraseña (SMTP básico) o, con OAuth, el scope, el consentimiento y los permisos de la aplicación; luego pruebe el flujo."},
	},
	ESMTPBasicAuthUnsupported: {
		"en": {"The provider no longer accepts password authentication", "Switch this flow to OAuth 2.0 (Microsoft 365 or Gmail preset) and have the operators authenticate."},
		"fr": {"Le fournisseur n'accepte plus l'authentification par mot de passe", "Passez ce flux en OAuth 2.0 (modèle Microsoft 365 ou Gmail) et faites authentifier les opérateurs."},
		"es": {"El proveedor ya no acepta autenticación con contraseña", "Cambie este flujo a OAuth 2.0 (Microsoft 365 o Gmail) y haga que los usuarios se autentiquen."},
	},
	ESMTPMessageTooBig: {
		"en": {"The message is too big for the mail server", "Reduce the attachments; the server's limit is in the details."},
		"fr": {"Le message est trop volumineux pour le serveur", "Réduisez les pièces jointes ; la limite du serveur est indiquée dans le détail."},
		"es": {"El mensaje es demasiado grande para el servidor", "Reduzca los adjuntos; el límite del servidor está en el detalle."},
	},
	ESMTPRecipientRefused: {
		"en": {"The mail server refused a recipient", "Check the recipient's address; the server's text is in the details."},
		"fr": {"Le serveur a refusé un destinataire", "Vérifiez l'adresse du destinataire ; le texte du serveur est dans le détail."},
		"es": {"El servidor rechazó un destinatario", "Verifique la dirección del destinatario; el texto del servidor está en el detalle."},
	},
	ESMTPUnavailable: {
		"en": {"The mail server is unavailable", "envoi retries by itself; if it lasts, check the server name, port and network."},
		"fr": {"Le serveur de messagerie est indisponible", "envoi réessaie de lui-même ; si cela dure, vérifiez serveur, port et réseau."},
		"es": {"El servidor de correo no está disponible", "envoi reintenta por sí mismo; si persiste, verifique servidor, puerto y red."},
	},
	ESMTPTemporary: {
		"en": {"Temporary failure at the mail server", "envoi retries by itself with increasing delays."},
		"fr": {"Échec temporaire du serveur de messagerie", "envoi réessaie de lui-même à intervalles croissants."},
		"es": {"Falla temporal del servidor de correo", "envoi reintenta por sí mismo con esperas crecientes."},
	},
	ESMTPPermanent: {
		"en": {"The mail server refused the message", "Read the server's text in the details; correct and retry the message."},
		"fr": {"Le serveur a refusé le message", "Lisez le texte du serveur dans le détail ; corrigez puis relancez l'envoi."},
		"es": {"El servidor rechazó el mensaje", "Lea el texto del servidor en el detalle; corrija y reintente el mensaje."},
	},
	ESMTPTLS: {
		"en": {"Secure connection to the mail server failed", "Check the security setting (STARTTLS on 587, TLS on 465) and the server's certificate."},
		"fr": {"La connexion sécurisée au serveur a échoué", "Vérifiez la sécurité (STARTTLS sur 587, TLS sur 465) et le certificat du serveur."},
		"es": {"Falló la conexión segura con el servidor", "Verifique la seguridad (STARTTLS en 587, TLS en 465) y el certificado del servidor."},
	},
	ESMTPTimeout: {
		"en": {"The mail server did not answer in time", "envoi retries by itself; if it lasts, check the server and the network."},
		"fr": {"Le serveur de messagerie n'a pas répondu à temps", "envoi réessaie de lui-même ; si cela dure, vérifiez le serveur et le réseau."},
		"es": {"El servidor de correo no respondió a tiempo", "envoi reintenta por sí mismo; si persiste, verifique el servidor y la red."},
	},
	EReportTemplateInvalid: {
		"en": {"Invalid report template", "Correct the block named in the details."},
		"fr": {"Modèle d'état non valide", "Corrigez le bloc indiqué dans le détail."},
		"es": {"Plantilla de reporte no válida", "Corrija el bloque indicado en el detalle."},
	},
	EArchiveChecksumMismatch: {
		"en": {"The archived file is damaged", "Restore the archive directory from a backup; the checksum no longer matches."},
		"fr": {"Le fichier archivé est endommagé", "Restaurez le répertoire d'archive depuis une sauvegarde ; la somme de contrôle ne correspond plus."},
		"es": {"El archivo guardado está dañado", "Restaure el directorio de archivo desde una copia; la suma de verificación no coincide."},
	},
	ELockedOut: {
		"en": {"Too many failed sign-ins", "Wait a few minutes, or use password recovery."},
		"fr": {"Trop d'échecs de connexion", "Patientez quelques minutes ou utilisez la récupération du mot de passe."},
		"es": {"Demasiados intentos fallidos", "Espere unos minutos o use la recuperación de contraseña."},
	},
}

// Codes returns every code of the catalogue.
func Codes() []string {
	codes := make([]string, 0, len(catalogue))
	for c := range catalogue {
		codes = append(codes, c)
	}
	return codes
}

// Describe returns the message and remedy of code in lang (en, fr or es),
// falling back as InLanguage does, and to the internal error's text for an
// unknown code.
func Describe(code, lang string) Text {
	texts, ok := catalogue[code]
	if !ok {
		texts = catalogue[EInternal]
	}
	t, _ := InLanguage(texts, lang)
	return t
}

// Remedy returns the remedy of code in lang.
func Remedy(code, lang string) string { return Describe(code, lang).Remedy }

// Localize returns a copy of e whose message and remedy are in lang. The
// English message of e, which carries specifics (a field, a name), is kept in
// the details as "reason" when it differs from the catalogue's title.
func (e *Error) Localize(lang string) *Error {
	t := Describe(e.Code, lang)
	out := *e
	out.Message = t.Message
	out.Remedy = t.Remedy
	if e.Message != "" && e.Message != t.Message {
		out.Details = make(map[string]any, len(e.Details)+1)
		for k, v := range e.Details {
			out.Details[k] = v
		}
		out.Details["reason"] = e.Message
	}
	return &out
}
